"""Subscriptions, the daily push (once per day, across restarts, caught up on start), blocked users,
admin retraining with live progress, admin scoring — state that lives in the store."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstock.bot import messages
from kstock.bot.jobs import catch_up, run_push, run_scoring, run_update, run_weekly_retrain
from kstock.bot.subscriptions import day_key
from kstock.service import runs
from kstock.service.retrain import RetrainResult
from support.bot_env import ADMIN, SATURDAY_NOON, TRADING_EVENING, BotEnv, fresh_copy, pushes_to
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the trained store and models (training happens once per test process)."""
    return fresh_copy(tmp_path / "env")
NEXT_TRADING_EVENING = dt.datetime(2025, 10, 13, 17, 0, tzinfo=TRADING_EVENING.tzinfo)  # Monday


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer(require_png=True) as server:
        yield server


@pytest.fixture
def env(tg: FakeTelegramServer, root: Path) -> Iterator[BotEnv]:
    bot_env = BotEnv(tg, root).start()
    yield bot_env
    bot_env.stop()


def test_subscribe_push_once_per_day_even_across_a_restart(env: BotEnv, tg: FakeTelegramServer) -> None:
    assert "/signals" in env.ask(ADMIN, "/help").text
    assert "아직 채점된 신호가 없습니다" in env.ask(701, "/signals").text
    assert "구독했습니다" in env.ask(701, "/subscribe").text
    assert "이미 구독 중" in env.ask(701, "/subscribe").text
    report = env.call(run_scoring(env.runtime, TRADING_EVENING))
    assert report is not None and report.scored > 20 and report.buys
    assert "매수 바스켓" in env.ask(702, "/signals").text

    first = env.call(run_push(env.runtime, env.bot, TRADING_EVENING))
    assert (first.status, first.sent, first.blocked) == ("done", 1, 0)
    (push,) = pushes_to(tg, 701)
    assert report.buys[0].name in push and "/unsubscribe" in push and "투자 권유가 아닙니다" in push

    second = env.call(run_push(env.runtime, env.bot, TRADING_EVENING + dt.timedelta(minutes=30)))
    assert second.sent == 0 and len(pushes_to(tg, 701)) == 1

    env.restart()  # a new Application, new Services, the same store
    assert env.call(run_push(env.runtime, env.bot, TRADING_EVENING + dt.timedelta(hours=1))).sent == 0
    assert env.call(catch_up(env.runtime, env.bot, TRADING_EVENING + dt.timedelta(hours=1))).get("push") is None
    assert len(pushes_to(tg, 701)) == 1
    assert env.runtime.subscriptions.push_statuses(TRADING_EVENING.date()) == {701: "sent"}

    # the next trading day: the loop moves the synthetic market one day, scores it and pushes it again
    assert env.call(run_update(env.runtime, NEXT_TRADING_EVENING)).day == "2025-10-13"
    assert env.call(run_scoring(env.runtime, NEXT_TRADING_EVENING)).date == "2025-10-13"
    nxt = env.call(run_push(env.runtime, env.bot, NEXT_TRADING_EVENING))
    assert nxt.sent == 1 and len(pushes_to(tg, 701)) == 2 and "2025-10-13" in pushes_to(tg, 701)[-1]

    assert "해지했습니다" in env.ask(701, "/unsubscribe").text
    assert env.call(run_push(env.runtime, env.bot, NEXT_TRADING_EVENING + dt.timedelta(days=1))).sent == 0


def test_missed_push_is_sent_once_on_start(tg: FakeTelegramServer, root: Path) -> None:
    with BotEnv(tg, root) as env:  # Saturday: subscribe and score, then "go down"
        env.ask(711, "/subscribe")
        env.ask(712, "/subscribe")
        env.call(run_scoring(env.runtime, SATURDAY_NOON, force=True))
        assert pushes_to(tg, 711) == []
    with BotEnv(tg, root, clock=lambda: TRADING_EVENING) as env:  # back up at 17:00 on a trading day
        tg.wait_for(lambda r: r.chat_id == 711 and "신호" in r.text, timeout=20)
        tg.wait_for(lambda r: r.chat_id == 712 and "신호" in r.text, timeout=20)
        runs_now = runs.last_runs(env.services.store, 5)
        assert any(r.job == "score" and r.status == "ok" for r in runs_now)  # scoring caught up first
    with BotEnv(tg, root, clock=lambda: TRADING_EVENING + dt.timedelta(minutes=20)) as env:  # restarted again
        time.sleep(1.5)  # the start-up catch-up has run by now
        assert env.call(catch_up(env.runtime, env.bot)).get("push") is None
    assert len(pushes_to(tg, 711)) == 1 and len(pushes_to(tg, 712)) == 1


def test_no_catch_up_before_push_time_or_on_another_day(env: BotEnv, tg: FakeTelegramServer) -> None:
    env.ask(721, "/subscribe")
    env.call(run_scoring(env.runtime, TRADING_EVENING))
    early = TRADING_EVENING.replace(hour=16, minute=20)  # after scoring time, before the push time
    assert "push" not in env.call(catch_up(env.runtime, env.bot, early))
    assert env.call(catch_up(env.runtime, env.bot, SATURDAY_NOON)) == {}
    assert pushes_to(tg, 721) == []


def test_blocked_user_is_unsubscribed_and_others_still_get_the_push(env: BotEnv, tg: FakeTelegramServer) -> None:
    env.ask(731, "/subscribe")
    env.ask(732, "/subscribe")
    env.call(run_scoring(env.runtime, TRADING_EVENING))
    tg.block_user(731)
    report = env.call(run_push(env.runtime, env.bot, TRADING_EVENING))
    assert (report.sent, report.blocked) == (1, 1)
    assert len(pushes_to(tg, 732)) == 1 and pushes_to(tg, 731) == []
    sub = env.runtime.subscriptions.get(731)
    assert sub is not None and not sub.active and "blocked" in (sub.reason or "")
    assert env.runtime.subscriptions.active_chats() == [732]
    assert env.runtime.subscriptions.push_statuses(TRADING_EVENING.date())[731] == "blocked"
    row = env.services.store.conn.execute("SELECT status FROM push_log WHERE date = ? AND chat_id = 731",
                                          (day_key(TRADING_EVENING.date()),)).fetchone()
    assert row == ("blocked",)


def test_failed_delivery_is_retried_later_that_day(env: BotEnv, tg: FakeTelegramServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    env.ask(741, "/subscribe")
    env.call(run_scoring(env.runtime, TRADING_EVENING))
    tg.rate_limit("sendMessage", times=5, retry_after=1)  # more than the push's retries: this send fails
    env.runtime.delivery.push_retries = 0
    try:
        assert env.call(run_push(env.runtime, env.bot, TRADING_EVENING)).failed == 1
    finally:
        env.runtime.delivery.push_retries = 8
    tg.reset_faults()
    assert env.call(run_push(env.runtime, env.bot, TRADING_EVENING)).sent == 1
    assert len(pushes_to(tg, 741)) == 1


def test_admin_retrain_progress_is_one_edited_message_ending_with_the_result(env: BotEnv,
                                                                            tg: FakeTelegramServer) -> None:
    since = env.send(ADMIN, "/retrain trees")
    first = env.reply(ADMIN, since)
    assert "재학습 진행 중" in first.text
    final = tg.wait_for(lambda r: r.method == "editMessageText" and "재학습" in r.text and "완료" in r.text,
                        timeout=60, since=since)
    edits = tg.edits_of(ADMIN, first.message_id)
    assert len(edits) >= 2 and edits[-1] == final
    assert any("학습 기간" in e.text for e in edits[:-1])  # live progress lines from the service
    assert "순위 IC" in final.text and ("교체됨" in final.text or "유지" in final.text)
    assert "이유:" in final.text
    assert [r.method for r in env.sent_to(ADMIN, since)].count("sendMessage") == 1  # one message, edited
    (run,) = runs.last_runs(env.services.store, 1, job="retrain:trees")
    assert run.status in ("ok", "kept")


def test_progress_edits_are_throttled(env: BotEnv, tg: FakeTelegramServer) -> None:
    from kstock.bot.progress import ProgressMessage

    async def scenario() -> int:
        (msg,) = await env.runtime.delivery.send_text(env.bot, 751, "start")
        progress = ProgressMessage(env.runtime.delivery, env.bot, 751, msg.message_id,
                                   lambda lines: "\n".join(lines[-3:]), interval=0.5)
        for i in range(40):
            progress.add(f"step {i}")
        await progress.finish("done")
        return msg.message_id

    began = time.monotonic()
    message_id = env.call(scenario())
    edits = tg.edits_of(751, message_id)
    assert edits[-1].text == "done" and len(edits) <= 3
    assert all(b.time - a.time >= 0.45 for a, b in itertools.pairwise(edits))
    assert time.monotonic() - began < 10  # the throttle delays edits, it does not queue them up


@pytest.mark.parametrize("top_k", [20, 40])  # 40: eight new names a day, more than a reply's first five
def test_admin_score_runs_now(tg: FakeTelegramServer, root: Path, top_k: int) -> None:
    with BotEnv(tg, root, overrides={"top_k": top_k}) as env:
        since = env.send(ADMIN, "/score")
        assert "채점 중" in env.reply(ADMIN, since).text
        done = tg.wait_for(lambda r: r.method == "editMessageText" and r.chat_id == ADMIN, timeout=30, since=since)
        assert "채점 완료" in done.text and "매수 바스켓" in done.text
        # the reply is the stored book, whole — exactly what /signals (and the push) show, not its first names
        book = done.text.split("\n", 1)[1]
        assert book == env.ask(ADMIN, "/signals").text


def test_bot_keeps_answering_while_a_retrain_runs(env: BotEnv, tg: FakeTelegramServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow_retrain(services, name, progress=None, **options):  # stands in for minutes of training
        progress("training")
        release.wait(20)
        return RetrainResult(name, "kept", "test: nothing changed", {"rank_ic_mean": 0.01})

    monkeypatch.setattr("kstock.bot.handlers.retrain", slow_retrain)
    since = env.send(ADMIN, "/retrain trees")
    env.reply(ADMIN, since)
    try:
        began = time.monotonic()
        assert "안녕하세요" in env.ask(761, "/start").text
        assert time.monotonic() - began < 10.0  # answered while the 20 s retrain still holds its slot
        assert env.ask(ADMIN, "/retrain trees").text == messages.RETRAIN_BUSY
        assert env.call(run_weekly_retrain(env.runtime, env.bot, name="trees")) is None  # weekly job waits its turn
    finally:
        release.set()
    tg.wait_for(lambda r: r.method == "editMessageText" and "유지" in r.text, timeout=20, since=since)


#: A process that starts a run and dies without finishing it (as under kill -9): its pid is gone afterwards.
KILLED_MID_RUN = ("import os, sys\nfrom kstock.market.store import MarketStore\nfrom kstock.service import runs\n"
                  "print(runs.start_run(MarketStore(sys.argv[1]), 'retrain:lstm'), flush=True)\nos._exit(9)")


def test_interrupted_runs_are_marked_on_start(tg: FakeTelegramServer, root: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_MID_RUN, str(root / "s.db")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}, timeout=60)
    run_id = int(done.stdout)
    with BotEnv(tg, root) as env:
        (run,) = [r for r in runs.last_runs(env.services.store, 10) if r.id == run_id]
        assert run.status == "failed" and "중단됨" in (run.error or "")


def test_weekly_retrain_tells_the_admins(env: BotEnv, tg: FakeTelegramServer) -> None:
    result = env.call(run_weekly_retrain(env.runtime, env.bot, name="trees"))
    assert result is not None and result.status in ("promoted", "kept")
    note = tg.wait_for(lambda r: r.chat_id == ADMIN and "주간 재학습" in r.text, timeout=10)
    assert "이유:" in note.text
