"""One language per reader: what the ``kstock`` command prints for people (every command, its success and its
common errors) and what the bot tells an admin are Korean, with identifiers as code (``--json`` stays English).

The same scan as the users' chat (tests/test_bot_chat_polish.py), with code spans skipped: admins and shell
users are shown commands and paths, which are code, not prose."""

from __future__ import annotations

import pytest

from support.language import english_words

pytestmark = pytest.mark.timeout(600)


def _names(cli) -> list[str]:
    from kstock.market.store import MarketStore

    store = MarketStore(cli.root / "s.db", readonly=True)
    try:
        return [t.name for t in store.tickers()] + [t.name_en for t in store.tickers() if t.name_en]
    finally:
        store.close()


def _first_code(cli) -> str:
    from kstock.market.store import MarketStore

    store = MarketStore(cli.root / "s.db", readonly=True)
    try:
        return next(t.code for t in store.tickers() if t.kind == "common")
    finally:
        store.close()


def _scan(cli, argv: list[str], names: list[str], expect_rc: int | None = None) -> list[tuple[str, list[str], str]]:
    rc, out, err = cli(*argv)
    if expect_rc is not None:
        assert rc == expect_rc, (argv, rc, out[-2000:], err[-2000:])
    leftovers = []
    for line in (out + "\n" + err).splitlines():
        words = english_words(line, names)
        if words:
            leftovers.append((" ".join(argv), words, line))
    return leftovers


def test_every_command_speaks_korean(cli, tmp_path) -> None:
    """Success and the common errors of each command, on a small synthetic store with a trained model."""
    names = [*_names(cli), "nonsense"]  # stock names, and a model name the person typed (echoed back)
    code = _first_code(cli)
    ok = [
        ["data", "status"], ["lookup", code], ["analyze", code], ["score"], ["signals"], ["models"],
        ["performance"], ["jobs"], ["daily", "--no-progress"], ["data", "prune", "--after", "2099-01-01"],
        ["train", "trees"], ["data", "update"],
    ]
    errors = [
        ["analyze", "없는종목이름"], ["signals", "--date", "2099-13-45"], ["signals", "--date", "2001-01-02"],
        ["signals", "--top", "0"], ["score", "--date", "2001-01-02"], ["performance", "--since", "어제아님"],
        ["performance", "--chart", str(tmp_path / "perf.png")], ["train", "nonsense"],
        ["analyze", code, "--chart", str(tmp_path / "no" / "such" / "c.png")],
        ["data", "import", str(tmp_path / "missing")], ["data", "prune", "--after", "2001-13-01"],
        ["lookup", "zzzzzz"], ["signals", "--db", str(tmp_path / "none.db")], ["validate", "sector"],
        ["tune", "trees", "--trials", "0"], ["evaluate", "--model", "nonsense"],
    ]
    leftovers = []
    for argv in ok:
        leftovers += _scan(cli, argv, names)
    for argv in errors:
        leftovers += _scan(cli, argv, names)
    print("\n".join(f"{a}: {w} ← {line}" for a, w, line in leftovers))
    assert not leftovers, "\n".join(f"{a}: {w} ← {line}" for a, w, line in leftovers)


def test_an_admins_chat_speaks_korean(tmp_path) -> None:
    """Everything an admin reads in a session: the commands, a retrain's progress and result, and the alert of
    a day whose data did not arrive (the feed's folder is missing). Shell commands and ids are code."""
    import datetime as dt

    from kstock.bot.jobs import run_scoring, run_update
    from support.bot_env import ADMIN, TRADING_EVENING, BotEnv, fresh_copy
    from support.fake_telegram import FakeTelegramServer

    next_evening = TRADING_EVENING + dt.timedelta(days=3)  # Monday, the next KRX session
    overrides = {"data_source": "csv", "csv_dir": tmp_path / "no-drop-folder"}
    with FakeTelegramServer() as tg, BotEnv(tg, fresh_copy(tmp_path / "env"), clock=lambda: next_evening,
                                            overrides=overrides) as env:
        assert env.call(run_scoring(env.runtime, TRADING_EVENING)).date == "2025-10-10"
        env.call(run_update(env.runtime, next_evening))
        env.call(run_scoring(env.runtime, next_evening, bot=env.bot))  # stale: the admin is told why
        for text in ("/start", "/help", "/status", "/model", "/analyze 삼성전자", "/analyze 삼송전자", "/signals",
                     "/performance", "/retrain", "/retrain nonsense"):
            env.ask(ADMIN, text, timeout=30)
        since = env.send(ADMIN, "/retrain trees")
        tg.wait_for(lambda r: r.method == "editMessageText" and "재학습" in r.text
                    and ("완료" in r.text or "종료" in r.text), timeout=120, since=since)
        env.ask(ADMIN, "/status")
        names = [t.name for t in env.services.store.tickers()] + ["User"]  # the admin's own name
        replies = [r for r in tg.sent if r.chat_id == ADMIN and r.method != "sendChatAction" and r.text]
    assert any("채점 보류" in r.text for r in replies) and any("학습 기간" in r.text for r in replies)
    leftovers = [(r.method, english_words(r.text, names), r.text) for r in replies if english_words(r.text, names)]
    assert not leftovers, "\n\n".join(f"{m}: {w}\n{t}" for m, w, t in leftovers)
