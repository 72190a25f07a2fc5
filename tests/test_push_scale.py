"""A push to many subscribers under Telegram's bulk limit (a scaled-down one): paced under it, 429s waited out
for the whole push, nothing sent twice, and a push stopped midway resumes after a restart without resending."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from kstock.bot.jobs import run_push, run_scoring
from kstock.bot.pacing import PUSH_SENDERS, RatePacer
from kstock.service import runs
from support.bot_env import TRADING_EVENING, BotEnv, fresh_copy
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(180)

SUBSCRIBERS = range(20_000, 20_200)
LIMIT, RATE = 40, 30.0  # the fake's messages per second, and the push's pace below it (25 under Telegram's 30)
PUSH_MARK = "장 마감 기준 신호"


def _pushes(tg: FakeTelegramServer) -> Counter:
    return Counter(r.chat_id for r in tg.sent if r.method == "sendMessage" and PUSH_MARK in r.text)


def test_a_push_to_200_keeps_under_the_limit_honours_429s_and_resumes_after_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # retry_after as a timedelta (what run_bot sets)
    root = fresh_copy(tmp_path / "env")
    with FakeTelegramServer() as tg:
        env = BotEnv(tg, root, runtime_options={"push_pacer": RatePacer(RATE)}).start()
        try:
            for chat in SUBSCRIBERS:
                env.runtime.subscriptions.subscribe(chat, chat)
            assert env.call(run_scoring(env.runtime, TRADING_EVENING)).date == "2025-10-10"
            tg.flood_limit(LIMIT, retry_after=1)
            tg.rate_limit("sendMessage", times=3, retry_after=1)  # a 429 storm as the push starts
            push = asyncio.run_coroutine_threadsafe(run_push(env.runtime, env.bot, TRADING_EVENING), env.harness.loop)
            deadline = time.monotonic() + 60
            while sum(_pushes(tg).values()) < 80 and time.monotonic() < deadline:
                time.sleep(0.02)
            push.cancel()  # the bot stops midway (a restart, a crash)
            time.sleep(0.5)
            stopped_at = sum(_pushes(tg).values())
            assert 80 <= stopped_at < len(SUBSCRIBERS)
            env.restart()
            env.runtime.push_pacer = RatePacer(RATE)
            report = env.call(run_push(env.runtime, env.bot, TRADING_EVENING), timeout=90)
        finally:
            env.stop()
        got = _pushes(tg)
        statuses = env_statuses(root)
    assert max(got.values()) == 1  # nothing twice
    lost = [c for c in SUBSCRIBERS if got[c] == 0]
    # a chat whose message was in flight when the push stopped stays "sending" (maybe delivered, never repeated):
    # at most one per sender; every other subscriber got the book
    assert len(lost) <= PUSH_SENDERS and all(statuses[c] == "sending" for c in lost), lost
    # the cancel can also fall between a send and its record: delivered, still "sending", never resent
    in_flight = [c for c in SUBSCRIBERS if statuses[c] == "sending"]
    assert len(in_flight) <= PUSH_SENDERS, in_flight
    assert report.sent == len(SUBSCRIBERS) - stopped_at - len(lost) + report.already
    assert all(statuses[c] in ("sent", "sending") for c in SUBSCRIBERS if got[c] == 1)
    calls = [c for c in tg.calls if c.method == "sendMessage"]
    first_429 = next(c.time for c in calls if c.status == 429)
    first_ok = next(c.time for c in calls if c.status == 200)
    assert first_ok - first_429 >= 0.95  # retry_after 1 s was waited out by the whole push
    assert tg.flood_refusals == 0  # the pace kept under the limit


def env_statuses(root: Path) -> dict[int, str]:
    """chat → push-log status of TRADING_EVENING's push, read from the store after the bot stopped."""
    from kstock.bot.subscriptions import SubscriptionStore
    from kstock.market.store import MarketStore

    store = MarketStore(root / "s.db")
    try:
        statuses = SubscriptionStore(store).push_statuses(TRADING_EVENING.date())
        assert runs.run_for_day(store, "push", "2025-10-10").status == "ok"  # the resumed push finished
        return statuses
    finally:
        store.close()
