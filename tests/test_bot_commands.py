"""Commands through the real PTB stack over HTTP against the fake Bot API: replies, photos, buttons,
refusals, limits, delivery rules and what reaches the logs."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstock.bot import messages
from kstock.bot.text import split_text
from kstock.errors import KstockError
from support.bot_env import ADMIN, BotEnv, fresh_copy
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the trained store and models (training happens once per test process)."""
    return fresh_copy(tmp_path / "env")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[BotEnv]:
    with FakeTelegramServer(require_png=True) as tg:
        root = fresh_copy(Path(tmp_path_factory.mktemp("bot-commands")))
        with BotEnv(tg, root, overrides={"analyze_per_minute": 5},
                    runtime_options={"warm_up_on_start": True}) as bot_env:
            assert bot_env.runtime.warmed.wait(60)  # features, predictions and SHAP computed at start
            yield bot_env


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTB_TIMEDELTA", "1")
        yield mp


def test_start_replies_and_menu_is_registered(env: BotEnv) -> None:
    reply = env.ask(101, "/start")
    assert "주식 신호 봇" in reply.text and "/analyze" in reply.text and reply.parse_mode == "HTML"
    assert "/retrain" not in reply.text  # admin commands are not advertised to users
    names = [c["command"] for c in env.tg.commands or []]  # the default scope: everyone's menu
    assert names == [name for name, _ in messages.PUBLIC_COMMANDS]
    assert {"start", "analyze", "watch", "watchlist"} <= set(names) and not {"retrain", "score"} & set(names)
    admin_menu = [c["command"] for c in env.tg.commands_for(f"chat:{ADMIN}")]
    assert admin_menu == [name for name, _ in messages.COMMANDS] and {"retrain", "score"} <= set(admin_menu)
    assert env.tg.commands_for("chat:101") == []  # no scope of its own: the default menu


@pytest.mark.parametrize(("chat", "query"), [(102, "005930"), (103, "삼성전자")])
def test_analyze_by_code_and_by_name_sends_text_and_png(env: BotEnv, chat: int, query: str) -> None:
    since = env.send(chat, f"/analyze {query}")
    text = env.reply(chat, since)
    photo = env.reply(chat, since, method="sendPhoto", timeout=30)
    assert "삼성전자 (005930)" in text.text
    assert "판단:" in text.text and "일 초과수익률" in text.text and "투자 권유가 아닙니다" in text.text
    assert "기준일" in text.text and "모델:" in text.text
    assert photo.is_png and photo.photo is not None and len(photo.photo) > 1000
    assert "005930" in (photo.caption or "")
    methods = [r.method for r in env.sent_to(chat, since)]
    assert [m for m in methods if m != "sendChatAction"] == ["sendMessage", "sendPhoto"]
    actions = [r.text for r in env.sent_to(chat, since) if r.method == "sendChatAction"]
    if "typing" in actions:  # the analysis took a while: "typing…" came first
        assert methods[0] == "sendChatAction" and actions[0] == "typing"
    if "upload_photo" in actions:  # the drawing took a while: "sending photo…" before the photo
        assert methods.index("sendMessage") < methods.index("sendChatAction", methods.index("sendMessage"))
        assert methods.index("sendChatAction", methods.index("sendMessage")) < methods.index("sendPhoto")


def test_typing_is_shown_while_a_slow_analysis_runs(env: BotEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from kstock.bot import analysis_flow

    real = analysis_flow.analyze

    def slow(*args: object, **kwargs: object):
        time.sleep(analysis_flow.ACTION_AFTER_S + 0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis_flow, "analyze", slow)
    since = env.send(118, "/analyze 005930")
    assert "삼성전자 (005930)" in env.reply(118, since).text
    methods = [(r.method, r.text) for r in env.sent_to(118, since)]
    assert methods[0] == ("sendChatAction", "typing") and methods[1][0] == "sendMessage"


def test_plain_text_in_a_private_chat_is_an_analysis(env: BotEnv) -> None:
    since = env.send(104, "005930")
    assert "삼성전자 (005930)" in env.reply(104, since).text
    env.reply(104, since, method="sendPhoto", timeout=30)


def test_ambiguous_name_offers_buttons_that_run_the_analysis(env: BotEnv) -> None:
    reply = env.ask(105, "/analyze 삼성")
    assert "여러 개" in reply.text
    buttons = dict(reply.buttons)
    assert set(buttons.values()) == {"a:005930", "a:005935"}
    since = len(env.tg.sent)
    env.tg.push_callback(105, "a:005930", reply.message_id)
    text = env.reply(105, since)
    assert "삼성전자 (005930)" in text.text and "판단:" in text.text
    assert env.reply(105, since, method="sendPhoto", timeout=30).is_png
    assert any(r.method == "answerCallbackQuery" for r in env.tg.sent[since:])


def test_unknown_ticker_gets_suggestions_as_buttons(env: BotEnv) -> None:
    reply = env.ask(106, "/analyze 삼송전자")
    assert "일치하는 종목이 없습니다" in reply.text and "삼성전자" in reply.text
    assert ("a:005930") in [data for _, data in reply.buttons]


def test_etf_is_refused_clearly(env: BotEnv) -> None:
    since = env.send(107, "/analyze KODEX 200")
    reply = env.reply(107, since)
    assert "ETF" in reply.text and "보통주만" in reply.text
    time.sleep(0.3)
    assert [r.method for r in env.sent_to(107, since) if r.method != "sendChatAction"] == ["sendMessage"]  # no chart


def test_garbage_and_overlong_and_empty_queries(env: BotEnv) -> None:
    assert "일치하는 종목이 없습니다" in env.ask(108, "/analyze !!!@@ <b>&").text
    since = env.send(108, "/analyze " + "가" * 41)
    reply = env.reply(108, since)
    assert "너무 깁니다" in reply.text and "40자" in reply.text
    time.sleep(0.3)
    assert len([r for r in env.sent_to(108, since) if r.method == "sendMessage"]) == 1
    assert "종목명이나 종목코드" in env.ask(108, "/analyze").text


def test_html_special_characters_are_escaped(env: BotEnv) -> None:
    reply = env.ask(109, "/analyze <삼성>&")  # the fake refuses unescaped HTML like Telegram does
    assert "&lt;삼성&gt;&amp;" in reply.text and reply.parse_mode == "HTML"
    assert "<삼성>&" in html.unescape(reply.text)


def test_analyze_rate_limit_per_user(env: BotEnv) -> None:
    chat = 110
    since = len(env.tg.sent)
    for _ in range(6):  # limit is 5 per minute in this module; a lookup that finds nothing is not counted
        env.tg.push_message(chat, "/analyze 없는종목이름")
    deadline = time.monotonic() + 15
    while len([r for r in env.sent_to(chat, since) if r.method == "sendMessage"]) < 6 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    texts = [r.text for r in env.sent_to(chat, since) if r.method == "sendMessage"]
    assert sum("일치하는 종목이 없습니다" in t for t in texts) == 6, texts
    since = len(env.tg.sent)
    for _ in range(6):  # analyses that ran are counted
        env.tg.push_message(chat, "/analyze 005930")
    env.tg.wait_for(lambda r: r.chat_id == chat and "요청이 너무 많습니다" in r.text, timeout=30, since=since)
    deadline = time.monotonic() + 30
    while len([r for r in env.sent_to(chat, since) if r.method == "sendMessage"]) < 6 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    texts = [r.text for r in env.sent_to(chat, since) if r.method == "sendMessage"]
    assert sum("요청이 너무 많습니다" in t for t in texts) == 1
    assert sum("판단:" in t for t in texts) == 5
    assert "/start" not in texts and "안녕하세요" in env.ask(chat, "/start").text  # other commands unaffected
    assert "일치하는 종목이 없습니다" in env.ask(chat + 1000, "/analyze 없는종목이름", user_id=chat + 1000).text


def test_non_admin_retrain_and_score_are_refused(env: BotEnv) -> None:
    for command in ("/retrain trees", "/score"):
        reply = env.ask(111, command)
        assert reply.text == messages.ADMIN_ONLY
    assert not any(r.method == "editMessageText" for r in env.sent_to(111))


def test_model_status_help_and_unknown_command(env: BotEnv) -> None:
    assert "트리(LightGBM+XGBoost)" in env.ask(112, "/model").text
    status = env.ask(112, "/status").text
    assert "데이터" in status and "다음 예약 작업" in status and "+09:00" not in status
    assert "lstm" not in status or "LSTM 주간 재학습" in status
    assert "/analyze" in env.ask(112, "/help").text
    assert env.ask(112, "/nosuchcommand").text == messages.UNKNOWN_COMMAND


def test_long_reply_is_split_on_line_boundaries(env: BotEnv) -> None:
    lines = [f"{i:04d} " + "가나다라마바사 <&> " * 4 for i in range(300)]
    text = "\n".join(lines)
    assert len(text) > 2 * 4096
    sent = env.call(env.runtime.delivery.send_text(env.bot, 113, text))
    records = env.sent_to(113)
    assert len(sent) == len(records) == len(split_text(text)) >= 3
    shown = [html.unescape(r.text) for r in records]  # what the user sees (HTML parsed)
    assert all(len(piece) <= 4096 for piece in shown)
    assert "\n".join(shown) == text
    assert all(piece.startswith(("0", "1", "2")) for piece in shown)  # every piece starts at a line


def test_retry_after_is_honoured(env: BotEnv) -> None:
    env.tg.rate_limit("sendMessage", times=1, retry_after=1)
    began = time.monotonic()
    reply = env.ask(114, "/help")
    assert time.monotonic() - began >= 1.0
    assert "/analyze" in reply.text
    statuses = [c.status for c in env.tg.calls if c.method == "sendMessage" and str(c.params.get("chat_id")) == "114"]
    assert statuses == [429, 200]
    assert env.runtime.delivery.retries >= 1


def test_token_never_reaches_the_logs(env: BotEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: POST %s%s/getMe", env.tg.base_url, env.tg.token)
    logging.getLogger("kstock.test").error("boom with %s", env.tg.token)
    try:
        raise RuntimeError(f"url {env.tg.base_url}{env.tg.token}/sendMessage failed")
    except RuntimeError:
        logging.getLogger("telegram.ext.test").exception("failure")
    env.ask(115, "/start")
    env.ask(115, "/analyze 005930")
    secret = env.tg.token.split(":", 1)[1]
    assert caplog.records  # something was logged at DEBUG
    assert env.tg.token not in caplog.text and secret not in caplog.text
    assert "<redacted>" in caplog.text
    assert all(secret not in (r.exc_text or "") for r in caplog.records)


def test_conflict_from_get_updates_is_logged_clearly(env: BotEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kstock")  # one 409 is a warning; CONFLICT_LIMIT in a row stop the bot
    env.tg.conflict()
    deadline = time.monotonic() + 10
    while "409 Conflict" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "409 Conflict" in caplog.text and "another process is polling" in caplog.text
    assert "안녕하세요" in env.ask(116, "/start", timeout=20).text  # polling recovered


def test_admin_is_not_refused(env: BotEnv) -> None:
    reply = env.ask(ADMIN, "/retrain")
    assert "재학습할 모델" in reply.text
    assert [data for _, data in reply.buttons] == ["r:lstm", "r:trees", "r:sector", "r:all"]


def test_allowed_chat_ids_restrict_the_bot(root: Path) -> None:
    with FakeTelegramServer() as tg, BotEnv(tg, root, overrides={"allowed_chat_ids": (300,)}) as bot_env:
        assert bot_env.ask(301, "/start").text == messages.NOT_ALLOWED
        assert "안녕하세요" in bot_env.ask(300, "/start").text
        assert "안녕하세요" in bot_env.ask(ADMIN, "/start").text  # admins pass anywhere


def test_unexpected_errors_get_an_apology_and_a_log_line(env: BotEnv, caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_services):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("kstock.bot.handlers.models_status", broken)
    caplog.set_level(logging.ERROR, logger="kstock")
    assert env.ask(117, "/model").text == messages.INTERNAL_ERROR
    assert "disk on fire" in caplog.text
    def locked(_services):
        raise KstockError("저장소 잠김")

    monkeypatch.setattr("kstock.bot.handlers.models_status", locked)
    assert env.ask(117, "/model").text == "저장소 잠김"
