"""The daily loop through the bot: real python-telegram-bot against the in-repo fake Bot API, fake clocks.

A trading day goes update → scoring → push with that day's date, each step recorded once for the day;
a day whose data did not arrive sends subscribers one "데이터 지연" note (never old signals as today's)
and each admin one alert; a holiday does nothing; a restart in the middle finishes the day once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstock.bot.jobs import catch_up, run_push, run_scoring, run_update
from kstock.service import runs
from kstock.service.daily import SCORE, UPDATE
from support.bot_env import ADMIN, TRADING_EVENING, BotEnv, fresh_copy
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(120)

NEXT_EVENING = TRADING_EVENING + dt.timedelta(days=3)  # Monday 2025-10-13, the next KRX session
CHUSEOK = dt.datetime(2025, 10, 6, 17, 0, tzinfo=TRADING_EVENING.tzinfo)


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        yield server


def texts(tg: FakeTelegramServer, chat: int) -> list[str]:
    return [r.text for r in tg.messages_to(chat)]


def test_a_trading_day_goes_update_scoring_push_with_that_days_date(tg: FakeTelegramServer,
                                                                    tmp_path: Path) -> None:
    with BotEnv(tg, fresh_copy(tmp_path / "env"), clock=lambda: NEXT_EVENING) as env:
        env.ask(801, "/subscribe")
        step = env.call(run_update(env.runtime, NEXT_EVENING))
        assert (step.day, step.status) == ("2025-10-13", "ok")
        report = env.call(run_scoring(env.runtime, NEXT_EVENING, bot=env.bot))
        assert report is not None and report.date == "2025-10-13" and report.buys
        push = env.call(run_push(env.runtime, env.bot, NEXT_EVENING))
        assert (push.sent, push.date) == (1, "2025-10-13")
        (text,) = [t for t in texts(tg, 801) if "장 마감 기준 신호" in t]
        assert "2025-10-13" in text and "⚠️" not in text and "보유 중이면 주의" in text
        assert "20일 평균 거래대금" in text and report.buys[0].name in text
        for job in (UPDATE, SCORE, "push"):
            run = runs.run_for_day(env.services.store, job, "2025-10-13")
            assert run is not None and run.status == "ok", job
        signals = env.ask(802, "/signals").text
        assert "2025-10-13" in signals and "⚠️" not in signals
        # the same evening again (a retry or a catch-up): nothing runs or is sent twice
        assert env.call(run_update(env.runtime, NEXT_EVENING)) is None
        assert env.call(catch_up(env.runtime, env.bot, NEXT_EVENING)) == {}
        assert len([t for t in texts(tg, 801) if "장 마감 기준 신호" in t]) == 1
        assert len([r for r in runs.last_runs(env.services.store, 30) if r.job == UPDATE]) == 1


def test_a_day_whose_data_did_not_arrive_is_never_pushed_as_today(tg: FakeTelegramServer, tmp_path: Path) -> None:
    # the CSV drop folder the source reads is missing: the update fails the way a dead feed does
    overrides = {"data_source": "csv", "csv_dir": tmp_path / "no-drop-folder"}
    with BotEnv(tg, fresh_copy(tmp_path / "env"), clock=lambda: NEXT_EVENING, overrides=overrides) as env:
        env.ask(811, "/subscribe")
        assert env.call(run_scoring(env.runtime, TRADING_EVENING)).date == "2025-10-10"  # Friday was on time
        step = env.call(run_update(env.runtime, NEXT_EVENING))
        assert (step.day, step.status) == ("2025-10-13", "failed")
        assert env.call(run_scoring(env.runtime, NEXT_EVENING, bot=env.bot)) is None
        assert runs.run_for_day(env.services.store, SCORE, "2025-10-13").status == "stale"
        alerts = [t for t in texts(tg, ADMIN) if "채점 보류" in t]
        assert len(alerts) == 1 and "2025-10-10" in alerts[0] and "KSTOCK_CSV_DIR" not in alerts[0]
        push = env.call(run_push(env.runtime, env.bot, NEXT_EVENING))
        assert push.sent == 1 and "stale" in push.reason
        notes = texts(tg, 811)
        assert not any("장 마감 기준 신호" in t for t in notes)  # no old signals as today's
        (note,) = [t for t in notes if "데이터 지연" in t]
        assert "2025-10-13" in note and "2025-10-10" in note
        # retries the same evening: no second note, no second admin alert
        env.call(run_scoring(env.runtime, NEXT_EVENING + dt.timedelta(minutes=10), bot=env.bot))
        env.call(run_push(env.runtime, env.bot, NEXT_EVENING + dt.timedelta(minutes=30)))
        assert len([t for t in texts(tg, 811) if "데이터 지연" in t]) == 1
        assert len([t for t in texts(tg, ADMIN) if "채점 보류" in t]) == 1
        status = env.ask(812, "/status").text
        assert "⚠️" in status and "1거래일" in status and "Traceback" not in status
        signals = env.ask(812, "/signals").text
        assert "⚠️ 2025-10-10 기준 신호입니다 — 1거래일 지났습니다" in signals
        analysis = env.ask(812, "/analyze 삼성전자").text
        assert "⚠️" in analysis and "기준일 2025-10-10" in analysis


def test_a_holiday_runs_nothing(tg: FakeTelegramServer, tmp_path: Path) -> None:
    with BotEnv(tg, fresh_copy(tmp_path / "env"), clock=lambda: CHUSEOK) as env:
        env.ask(821, "/subscribe")
        since = len(tg.sent)
        assert env.call(run_update(env.runtime, CHUSEOK)) is None
        assert env.call(run_scoring(env.runtime, CHUSEOK, bot=env.bot)) is None
        assert env.call(run_push(env.runtime, env.bot, CHUSEOK)).status == "skipped"
        assert tg.sent[since:] == []
        assert [r.status for r in runs.last_runs(env.services.store, 5) if r.job in ("update", "score", "push")] \
            == ["skipped"] * 3


def test_a_restart_in_the_middle_of_the_loop_runs_each_step_once(tg: FakeTelegramServer, tmp_path: Path) -> None:
    root = fresh_copy(tmp_path / "env")
    with BotEnv(tg, root, clock=lambda: NEXT_EVENING) as env:
        env.ask(831, "/subscribe")
        assert env.call(run_update(env.runtime, NEXT_EVENING)).status == "ok"
    # the process died after the update; it comes back at 17:30: the start-up catch-up finishes the day
    with BotEnv(tg, root, clock=lambda: NEXT_EVENING + dt.timedelta(minutes=30)) as env:
        tg.wait_for(lambda r: r.chat_id == 831 and "장 마감 기준 신호" in r.text, timeout=30)
        env.call(catch_up(env.runtime, env.bot))
        store = env.services.store
        day_runs = [(r.job, r.status) for r in runs.last_runs(store, 30) if r.day == "2025-10-13"]
        assert sorted(day_runs) == [("push", "ok"), ("score", "ok"), ("update", "ok")]
    assert len([t for t in texts(tg, 831) if "장 마감 기준 신호" in t]) == 1
