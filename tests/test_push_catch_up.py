"""Catch-up of the daily push: a bot that was down at push time sends the last published book once, with its
date, when it starts later — on a holiday, the next morning — through the real PTB application's start-up."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from kstock.bot.jobs import catch_up, run_push, run_scoring, run_update
from support.bot_env import TRADING_EVENING, BotEnv, fresh_copy, pushes_to
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(180)

KST = TRADING_EVENING.tzinfo
SATURDAY_AFTER = dt.datetime(2025, 10, 11, 12, 0, tzinfo=KST)  # the day after Friday 2025-10-10's push time
MONDAY_EVENING = dt.datetime(2025, 10, 13, 17, 0, tzinfo=KST)
TUESDAY_MORNING = dt.datetime(2025, 10, 14, 8, 0, tzinfo=KST)  # before that day's update, scoring and push


@pytest.fixture
def tg():
    with FakeTelegramServer(require_png=True) as server:
        yield server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fresh_copy(tmp_path / "env")


def _score_friday_and_go_down(tg: FakeTelegramServer, root: Path, chats: tuple[int, ...]) -> None:
    """Friday's book is scored and published, then the bot is down at 16:40: nobody got it."""
    with BotEnv(tg, root) as env:  # the default clock (an earlier Saturday) catches nothing up at start
        for chat in chats:
            env.ask(chat, "/subscribe")
        assert env.call(run_scoring(env.runtime, TRADING_EVENING)).date == "2025-10-10"
    assert all(pushes_to(tg, chat) == [] for chat in chats)


def test_a_bot_started_on_saturday_pushes_fridays_book_once(tg: FakeTelegramServer, root: Path) -> None:
    _score_friday_and_go_down(tg, root, (751, 752))
    with BotEnv(tg, root, clock=lambda: SATURDAY_AFTER):  # start-up catch-up, on a non-trading day
        for chat in (751, 752):
            record = tg.wait_for(lambda r, c=chat: r.chat_id == c and "장 마감 기준 신호" in r.text, timeout=30)
            assert "2025-10-10" in record.text  # the book's own date, not "today"
    with BotEnv(tg, root, clock=lambda: SATURDAY_AFTER) as env:  # restarted the same day: never twice
        time.sleep(1.5)  # the start-up catch-up has run by now
        assert "push" not in env.call(catch_up(env.runtime, env.bot))
    with BotEnv(tg, root, clock=lambda: TUESDAY_MORNING.replace(day=13)):  # Monday morning: still once
        time.sleep(1.5)
    assert [len(pushes_to(tg, c)) for c in (751, 752)] == [1, 1]


def test_only_the_newest_published_book_is_caught_up(tg: FakeTelegramServer, root: Path) -> None:
    _score_friday_and_go_down(tg, root, (761,))
    with BotEnv(tg, root) as env:  # Monday's loop ran (cron), but the bot was down at its push time too
        assert env.call(run_update(env.runtime, MONDAY_EVENING)).day == "2025-10-13"
        assert env.call(run_scoring(env.runtime, MONDAY_EVENING)).date == "2025-10-13"
    with BotEnv(tg, root, clock=lambda: TUESDAY_MORNING):
        record = tg.wait_for(lambda r: r.chat_id == 761 and "장 마감 기준 신호" in r.text, timeout=30)
        assert "2025-10-13" in record.text
        time.sleep(1.0)
    assert len(pushes_to(tg, 761)) == 1  # Friday's book is not sent after Monday's was published


def test_no_catch_up_before_the_books_push_time_nor_after_it_went_out(tg: FakeTelegramServer, root: Path) -> None:
    _score_friday_and_go_down(tg, root, (771,))
    early = TRADING_EVENING.replace(hour=16, minute=20)  # Friday, scored, before 16:40
    with BotEnv(tg, root, clock=lambda: early) as env:
        time.sleep(1.0)
        assert "push" not in env.call(catch_up(env.runtime, env.bot, early))
        assert pushes_to(tg, 771) == []
        assert env.call(run_push(env.runtime, env.bot, TRADING_EVENING)).sent == 1  # the scheduled push
        env.ask(772, "/subscribe")  # subscribed after the push went out
    with BotEnv(tg, root, clock=lambda: SATURDAY_AFTER) as env:
        time.sleep(1.5)
        assert "push" not in env.call(catch_up(env.runtime, env.bot))
    assert len(pushes_to(tg, 771)) == 1 and pushes_to(tg, 772) == []  # a book that went out is not sent again
