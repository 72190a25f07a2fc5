"""Telegram misbehaving: 429 flood control, 403 (the user blocked the bot) and timeouts on sendMessage and
sendPhoto, during the daily push and during /analyze — through the real PTB stack and the fake server's
fault plans (``rate_limit``, ``block_user``, ``delay``).

A timeout is a ``delay`` longer than the bot's read timeout (cut to 1.5 s here from 20 s); the fake still
delivers the message after the stall, as Telegram may after a client gave up waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kstock.bot import messages
from kstock.bot.jobs import run_push, run_scoring, run_update
from support.bot_env import TRADING_EVENING, BotEnv, fresh_copy, pushes_to
from support.fake_telegram import FakeTelegramServer
from support.faults import ADMIN, assert_answers, job_runs, start_bot, tg_fixture

tg = tg_fixture  #: the suite's shared fake Telegram server (see _faults)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

NEXT_TRADING_EVENING = TRADING_EVENING + dt.timedelta(days=3)  # Monday 2025-10-13
READ_TIMEOUT = 1.5
STALL = 3.0  # > READ_TIMEOUT: the bot gives up waiting, the fake delivers anyway


@pytest.fixture
def env(synth_golden: Path, tmp_path: Path, tg: FakeTelegramServer,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[BotEnv]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    bot_env = start_bot(tg, fresh_copy(tmp_path / "env"))  # a market whose clock stands at TRADING_EVENING
    # every Bot API call but getUpdates goes through this request object: give up reading after 1.5 s
    bot_env.bot.request._client.timeout = httpx.Timeout(5.0, read=READ_TIMEOUT)
    yield bot_env
    bot_env.stop()


def statuses(tg: FakeTelegramServer, method: str, chat: int, since: int = 0) -> list[int]:
    """HTTP status of every ``method`` call for ``chat`` from call ``since`` on, in order (retries included)."""
    return [c.status for c in tg.calls[since:] if c.method == method and str(c.params.get("chat_id")) == str(chat)]


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_push_through_429_blocked_users_and_timeouts(env: BotEnv, tg: FakeTelegramServer) -> None:
    for chat in (801, 802, 803):
        assert "구독했습니다" in env.ask(chat, "/subscribe").text
    assert env.call(run_scoring(env.runtime, TRADING_EVENING)).buys

    # day 1: the first send meets flood control (waited out and retried), 802 has blocked the bot
    tg.rate_limit("sendMessage", times=1, retry_after=1)
    tg.block_user(802)
    calls = len(tg.calls)
    report = env.call(run_push(env.runtime, env.bot, TRADING_EVENING))
    assert (report.sent, report.blocked, report.failed) == (2, 1, 0)
    assert statuses(tg, "sendMessage", 801, calls) == [429, 200] and env.runtime.delivery.retries == 1
    assert env.runtime.subscriptions.push_statuses(TRADING_EVENING.date()) == {801: "sent", 802: "blocked",
                                                                              803: "sent"}
    blocked = env.runtime.subscriptions.get(802)
    assert blocked is not None and not blocked.active and "blocked" in (blocked.reason or "")
    assert env.runtime.subscriptions.active_chats() == [801, 803]

    # day 2: the send to 801 times out — recorded as "unknown" and never sent again (no duplicates)
    env.call(run_update(env.runtime, NEXT_TRADING_EVENING))
    assert env.call(run_scoring(env.runtime, NEXT_TRADING_EVENING)).date == NEXT_TRADING_EVENING.date().isoformat()
    tg.delay("sendMessage", STALL, times=1)
    report = env.call(run_push(env.runtime, env.bot, NEXT_TRADING_EVENING))
    assert (report.sent, report.blocked, report.failed) == (1, 0, 1)
    day2 = NEXT_TRADING_EVENING.date()
    assert env.runtime.subscriptions.push_statuses(day2) == {801: "unknown", 803: "sent"}
    wait_until(lambda: len(pushes_to(tg, 801)) == 2)  # Telegram delivered it after all
    again = env.call(run_push(env.runtime, env.bot, NEXT_TRADING_EVENING + dt.timedelta(minutes=30)))
    assert again.sent == 0 and again.failed == 0
    assert (len(pushes_to(tg, 801)), len(pushes_to(tg, 802)), len(pushes_to(tg, 803))) == (2, 0, 2)

    push_runs = job_runs(env.root, "push")  # recorded, and the admin sees it in /status
    assert push_runs[-2:] == [("ok", None), ("failed", "1 deliveries failed")]
    assert "`push` 실패" in env.ask(ADMIN, "/status").text
    assert_answers(env, 804)  # the bot kept polling through all of it


def _await_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 15.0) -> None:
    wait_until(lambda: any(text in r.getMessage() for r in caplog.records), timeout)


@pytest.mark.parametrize("method", ["sendMessage", "sendPhoto"])
def test_analyze_reply_timing_out_is_not_followed_by_an_apology(
    method: str, env: BotEnv, tg: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kstock")
    tg.delay(method, STALL, times=1)
    since = env.send(811, "/analyze 005930")
    _await_log(caplog, "TimedOut")  # the handler has given up on the reply
    text = env.reply(811, since, timeout=10)  # …which Telegram delivered after all
    assert "판단:" in text.text
    if method == "sendPhoto":
        assert env.reply(811, since, method="sendPhoto", timeout=10).is_png
    sent = [r.text for r in env.sent_to(811, since)]
    assert messages.INTERNAL_ERROR not in sent  # no "an error occurred" after an answer that may have arrived
    assert not any("unhandled error" in r.getMessage() for r in caplog.records)
    assert_answers(env, 811)  # the same user, and the bot, carry on


def test_analyze_chart_rate_limited_is_retried(env: BotEnv, tg: FakeTelegramServer) -> None:
    tg.rate_limit("sendPhoto", times=1, retry_after=1)
    calls = len(tg.calls)
    since = env.send(821, "/analyze 005930")
    assert "판단:" in env.reply(821, since).text
    assert env.reply(821, since, method="sendPhoto", timeout=15).is_png
    assert statuses(tg, "sendPhoto", 821, calls) == [429, 200]


def test_user_who_blocked_the_bot_is_unsubscribed_and_others_are_served(env: BotEnv,
                                                                       tg: FakeTelegramServer) -> None:
    assert "구독했습니다" in env.ask(831, "/subscribe").text
    tg.block_user(831)
    since = env.send(831, "/analyze 005930")
    wait_until(lambda: not env.runtime.subscriptions.is_subscribed(831))
    sub = env.runtime.subscriptions.get(831)
    assert sub is not None and "blocked" in (sub.reason or "")
    assert env.sent_to(831, since) == [] and 403 in statuses(tg, "sendMessage", 831)
    assert_answers(env, 832)  # polling goes on for everyone else
    tg.unblock_user(831)  # the user comes back
    assert "구독했습니다" in env.ask(831, "/subscribe").text
