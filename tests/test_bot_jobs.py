"""The schedule (Asia/Seoul): weekday numbering, next runs, trading-day skips, `kstock jobs`."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from kstock.bot import build_application
from kstock.bot.jobs import (
    JOB_RETRIES,
    RETRY_DELAY_S,
    describe_jobs,
    job_specs,
    next_run,
    ptb_weekday,
    push_job,
    run_push,
    run_scoring,
    score_job,
)
from kstock.cli import main
from kstock.market.calendar import TradingCalendar
from kstock.market.freshness import SEOUL
from kstock.service import runs
from kstock.service.context import Services
from support.bot_env import SATURDAY_NOON, TRADING_EVENING, BotEnv, base_settings, fresh_copy
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the trained store and models (training happens once per test process)."""
    return fresh_copy(tmp_path / "env")
SUNDAY = 6  # Python's date.weekday()


def test_ptb_weekday_numbering_starts_on_sunday() -> None:
    assert ptb_weekday(dt.date(2025, 10, 5)) == 0  # Sunday
    assert ptb_weekday(dt.date(2025, 10, 6)) == 1  # Monday
    assert ptb_weekday(dt.date(2025, 10, 4)) == 6  # Saturday
    weekly = next(s for s in job_specs(base_settings(Path("/tmp"))) if s.name == "weekly_retrain")
    assert weekly.days == (0,)  # PTB ≥ 20: 0 = Sunday (days=(6,) would be Saturday)


@pytest.mark.parametrize("now", [
    dt.datetime(2025, 10, 1, 9, 0, tzinfo=SEOUL),   # Wednesday
    dt.datetime(2025, 10, 4, 23, 59, tzinfo=SEOUL),  # Saturday night
    dt.datetime(2025, 10, 5, 2, 59, tzinfo=SEOUL),   # Sunday before three
    dt.datetime(2025, 10, 5, 3, 0, tzinfo=SEOUL),    # exactly at the run: the next one is a week later
    dt.datetime(2025, 10, 4, 19, 30, tzinfo=dt.UTC),  # Sunday 04:30 in Seoul, given in UTC
])
def test_weekly_retrain_next_run_is_sunday_three_kst(now: dt.datetime) -> None:
    weekly = next(s for s in job_specs(base_settings(Path("/tmp"))) if s.name == "weekly_retrain")
    at = next_run(weekly, now)
    assert at.weekday() == SUNDAY and (at.hour, at.minute) == (3, 0)
    assert at.utcoffset() == dt.timedelta(hours=9) and at.isoformat().endswith("+09:00")
    assert dt.timedelta(0) < at - now <= dt.timedelta(days=7)


def test_registered_job_queue_trigger_fires_sunday_three_kst(tmp_path: Path) -> None:
    """The APScheduler trigger PTB built from run_daily agrees: Sunday 03:00 Asia/Seoul."""
    settings = base_settings(tmp_path, telegram_bot_token="123456:TEST-token")
    services = Services(settings)
    try:
        app = build_application(settings, services, chart_workers=0)
        jobs = {job.name: job for job in app.job_queue.jobs()}
        assert set(jobs) == {"weekly_retrain", "model_health", "update_data", "score_market", "push_signals"}
        trigger = jobs["weekly_retrain"].job.trigger
        for now in (dt.datetime(2025, 10, 1, 9, 0, tzinfo=SEOUL), dt.datetime(2025, 10, 5, 3, 0, 1, tzinfo=SEOUL)):
            fire = trigger.get_next_fire_time(None, now)
            assert fire.weekday() == SUNDAY and (fire.hour, fire.minute) == (3, 0)
            assert fire.utcoffset() == dt.timedelta(hours=9)
        push = jobs["push_signals"].job.trigger.get_next_fire_time(None, dt.datetime(2025, 10, 4, 12, tzinfo=SEOUL))
        assert push.date() == dt.date(2025, 10, 6) and push.strftime("%H:%M") == settings.push_time  # Monday
    finally:
        services.close()


def test_running_job_queue_reports_next_weekly_run_on_a_sunday(root: Path) -> None:
    with FakeTelegramServer() as tg, BotEnv(tg, root) as env:
        (job,) = env.harness.app.job_queue.get_jobs_by_name("weekly_retrain")
        assert job.next_t is not None
        local = job.next_t.astimezone(SEOUL)
        assert local.weekday() == SUNDAY and (local.hour, local.minute) == (3, 0)


def test_trading_day_jobs_skip_weekends_and_krx_holidays() -> None:
    calendar = TradingCalendar([])  # nothing stored: weekdays minus KRX holidays
    settings = base_settings(Path("/tmp"))
    push = next(s for s in job_specs(settings) if s.name == "push_signals")
    # Thursday 2025-10-02 evening → Fri 3rd (개천절), weekend, 6–8th (추석), 9th (한글날) → Friday 10th
    at = next_run(push, dt.datetime(2025, 10, 2, 17, 0, tzinfo=SEOUL), calendar)
    assert at == dt.datetime(2025, 10, 10, 16, 40, tzinfo=SEOUL)
    assert next_run(push, dt.datetime(2025, 10, 10, 9, 0, tzinfo=SEOUL), calendar).date() == dt.date(2025, 10, 10)


def test_push_job_skips_a_weekend_day_and_a_holiday(root: Path) -> None:
    with FakeTelegramServer() as tg, BotEnv(tg, root) as env:
        env.ask(501, "/subscribe")
        since = len(tg.sent)
        for day, why in ((dt.datetime(2025, 10, 4, 17, 0, tzinfo=SEOUL), "Saturday"),
                         (dt.datetime(2025, 10, 6, 17, 0, tzinfo=SEOUL), "Chuseok")):
            report = env.call(run_push(env.runtime, env.bot, day))
            assert report.status == "skipped" and "not a KRX trading day" in report.reason, why
            assert env.call(run_scoring(env.runtime, day)) is None
        assert tg.sent[since:] == []
        assert env.runtime.subscriptions.push_statuses(dt.date(2025, 10, 6)) == {}
        skipped = [r for r in runs.last_runs(env.services.store, 10) if r.status == "skipped"]
        assert {r.job for r in skipped} == {"push", "score"} and len(skipped) == 4


def test_kstock_jobs_json_lists_next_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KSTOCK_DB", str(tmp_path / "none.db"))
    monkeypatch.setenv("KSTOCK_PUSH_TIME", "17:05")
    assert main(["jobs", "--json"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert [j["name"] for j in jobs] == ["weekly_retrain", "model_health", "update_data", "score_market",
                                         "push_signals"]
    for job in jobs:
        at = dt.datetime.fromisoformat(job["next_run"])
        assert job["next_run"].endswith("+09:00") and at > dt.datetime.now(dt.UTC)
    weekly = dt.datetime.fromisoformat(jobs[0]["next_run"])
    assert weekly.weekday() == SUNDAY and weekly.strftime("%H:%M") == "03:00"
    assert dt.datetime.fromisoformat(jobs[4]["next_run"]).strftime("%H:%M") == "17:05"
    assert dt.datetime.fromisoformat(jobs[2]["next_run"]).strftime("%H:%M") == "15:50"
    assert dt.datetime.fromisoformat(jobs[1]["next_run"]).strftime("%H:%M") == "08:30"
    assert not (tmp_path / "none.db").exists()  # listing jobs never creates a store
    assert main(["jobs"]) == 0
    assert "weekly_retrain" in capsys.readouterr().out


def test_describe_jobs_uses_the_calendar() -> None:
    jobs = describe_jobs(base_settings(Path("/tmp")), SATURDAY_NOON, TradingCalendar([]))
    score = next(j for j in jobs if j["name"] == "score_market")
    assert score["next_run"] == "2025-10-10T16:10:00+09:00"  # Mon–Thu are holidays that week


#: A trading morning: before the scoring time, so the bot's start-up catch-up leaves the jobs to the test.
TRADING_MORNING = TRADING_EVENING.replace(hour=9)


def job_context(env: BotEnv, attempt: int | None = None) -> SimpleNamespace:
    """What PTB hands a job callback: the application, the bot, the queue and the job (with its data)."""
    app = env.harness.app
    job = None if attempt is None else SimpleNamespace(data={"attempt": attempt})
    return SimpleNamespace(application=app, bot=env.bot, job_queue=app.job_queue, job=job)


def pending_retries(env: BotEnv, name: str) -> list:
    return [j for j in env.harness.app.job_queue.get_jobs_by_name(f"{name}_retry") if not j.removed]


def test_scoring_blocked_by_a_locked_store_is_retried_the_same_day(root: Path) -> None:
    with FakeTelegramServer() as tg, BotEnv(tg, root, clock=lambda: TRADING_MORNING) as env:
        env.services.store.set_busy_timeout(0.3)  # fail fast instead of waiting 10 s
        other = sqlite3.connect(root / "s.db", isolation_level=None)  # e.g. a long `kstock data import`
        other.execute("BEGIN EXCLUSIVE")
        try:
            env.call(score_job(job_context(env)))
            (retry,) = pending_retries(env, "score_market")
            assert retry.data == {"attempt": 1}
            assert 0 < (retry.next_t - dt.datetime.now(dt.UTC)).total_seconds() <= RETRY_DELAY_S
            retry.schedule_removal()
            env.call(score_job(job_context(env, attempt=JOB_RETRIES)))  # the last retry fails too: no more
            assert pending_retries(env, "score_market") == []
        finally:
            other.execute("ROLLBACK")
            other.close()
        env.call(score_job(job_context(env, attempt=1)))  # the store is free again: the retry scores
        assert pending_retries(env, "score_market") == []
        assert runs.last_runs(env.services.store, 1, job="score")[0].status == "ok"


def test_push_that_telegram_refused_is_retried_and_nobody_gets_it_twice(root: Path) -> None:
    with FakeTelegramServer() as tg, BotEnv(tg, root, clock=lambda: TRADING_MORNING) as env:
        env.ask(811, "/subscribe")
        env.call(run_scoring(env.runtime, TRADING_MORNING))
        since = len(tg.sent)
        env.runtime.delivery.push_retries = 2
        tg.rate_limit("sendMessage", times=3, retry_after=1)  # more 429s than the sender waits out
        env.call(push_job(job_context(env)))
        assert tg.sent[since:] == []
        (retry,) = pending_retries(env, "push_signals")
        retry.schedule_removal()
        env.call(push_job(job_context(env, attempt=1)))
        env.call(push_job(job_context(env, attempt=2)))  # a further run finds nothing left to send
        pushes = [r for r in tg.sent[since:] if r.chat_id == 811]
        assert len(pushes) == 1 and "매수 바스켓" in pushes[0].text
        assert pending_retries(env, "push_signals") == []
