"""Scheduled jobs on the application's JobQueue, in Asia/Seoul.

=================  ==========================  =====================================================
job                when (KST)                  what
=================  ==========================  =====================================================
``weekly_retrain`` Sundays 03:00               retrain every serving kind one after another — trees,
                                               LSTM, sector (:data:`WEEKLY_KINDS`), each gated; admins
                                               get one summary
``model_health``   every day 08:30             expired models (one alert a day) and a live IC out of
                                               range (one alert, one recovery) — :mod:`.model_watch`
``update_data``    trading days, update_time   fetch the day's data from the configured source
``score_market``   trading days, score_time    the day's update if still missing, then the scoring and
                                               the book (:mod:`kstock.service.daily`); stale data →
                                               no book, each admin told once; then the charts of the
                                               basket and watched stocks are pre-drawn in the background
``push_signals``   trading days, push_time     the day's book to subscribers, once per day each; a
                                               stale day → one short "데이터 지연" note instead
=================  ==========================  =====================================================

The steps and their once-per-trading-day records live in :mod:`kstock.service.daily` (``kstock daily``
runs the same loop from cron). The bot's "day" is the source's clock: the current KRX session for
pykrx/csv, the last revealed day of the synthetic market — whose update job reveals at most one new day
per calendar day, so a catch-up and the scheduled job never advance it twice. The update and scoring
take the store's loop lock in their worker (:mod:`kstock.service.loop_lock`): a `kstock daily` from cron
beside the bot never runs a step twice, and a job that finds the loop held for more than a few seconds
("이미 실행 중") is retried later like any failed job.

PTB (≥ 20) numbers weekdays 0 = Sunday … 6 = Saturday in ``run_daily(days=...)``, unlike Python's
``date.weekday()`` (0 = Monday): :func:`ptb_weekday` converts. Trading-day jobs are scheduled Monday to
Friday and skip KRX holidays when they fire (:class:`~kstock.market.calendar.TradingCalendar`), so the
schedule itself never needs rebuilding. Every job body is a plain coroutine taking an explicit
``now`` — tests call it with a fake clock instead of waiting for the schedule.

A scoring or push that fails is retried :data:`JOB_RETRIES` times, :data:`RETRY_DELAY_S` apart
(:func:`retry_later`). On start (:func:`catch_up`) a scoring or push missed while the bot was down runs
once, if it is still that trading day and past its time; a bot started later — that evening, on a
holiday, the next morning — sends the last published book that never went out, with its date
(:func:`kstock.bot.push.catch_up_push`). The push log guarantees nobody gets a day's push twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.error import TelegramError

from kstock.bot import messages
from kstock.bot.chart_predraw import schedule_predraw
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.model_watch import run_model_health
from kstock.bot.push import catch_up_push, record_skip, run_push, tell_admins_stale
from kstock.bot.runtime import runtime_of
from kstock.bot.subscriptions import INTERACTIVE_WAIT
from kstock.bot.watch_alerts import send_watch_alerts
from kstock.errors import KstockError
from kstock.market.calendar import TradingCalendar
from kstock.market.freshness import SEOUL
from kstock.ml.models import unavailable_reason, weekly_kinds
from kstock.service import daily
from kstock.service.daily import StepResult
from kstock.service.retrain import RetrainResult, retrain
from kstock.service.scoring import ScoringReport

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application, ContextTypes, Job

    from kstock.bot.runtime import BotRuntime
    from kstock.config import Settings

log = logging.getLogger(__name__)

SUNDAY = 0  # PTB numbering
WEEKDAYS = (1, 2, 3, 4, 5)  # Monday … Friday, PTB numbering
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
#: The Sunday job retrains these kinds, in this order, every week: the trees first (they carry the call),
#: then the LSTM, then the sector model (by weight in the kinds table). Weekly for all three, because all
#: three fit in one night: measured with ``benchmarks/bench_weekly.py`` on a 40-ticker × 1.5-year synthetic
#: store, trees 6 s, LSTM 25 s, sector 189 s (wall, on the shared 2-core box); the sector model's cost is
#: mostly its fixed sample budget per epoch, so it grows little with the market, and with the trees' ~1 min
#: and the LSTM's ~4.5 min on kospi_2020_2026 the night stays within the 15-minute target. A kind that
#: cannot run here (torch missing) is skipped and the summary says so.
WEEKLY_KINDS = weekly_kinds()  # as at import: the kinds table's retrained kinds, heaviest weight first
HEALTH_TIME = dt.time(8, 30)
DAY_NAMES_KO = ("일", "월", "화", "수", "목", "금", "토")  # by PTB number
#: A job that fires late (busy loop, suspended machine) still runs within this many seconds.
MISFIRE_GRACE_S = 15 * 60
#: A scoring or push that fails (a store locked by an import, a Telegram outage) is tried again this
#: many times, this far apart, the same day — instead of waiting for tomorrow's run.
JOB_RETRIES = 3
RETRY_DELAY_S = 10 * 60


def ptb_weekday(day: dt.date) -> int:
    """PTB's day number (0 = Sunday … 6 = Saturday) of a date."""
    return (day.weekday() + 1) % 7


def _hhmm(text: str) -> dt.time:
    hh, mm = text.split(":")
    return dt.time(int(hh), int(mm))


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    at: dt.time  # wall-clock time in Seoul
    days: tuple[int, ...]  # PTB numbering
    trading_days_only: bool

    @property
    def time_kst(self) -> dt.time:
        return self.at.replace(tzinfo=SEOUL)

    @property
    def schedule(self) -> str:
        if self.trading_days_only:
            when = "거래일"
        elif self.days == (SUNDAY,):
            when = "매주 일요일"
        elif self.days == EVERY_DAY:
            when = "매일"
        else:
            when = "/".join(DAY_NAMES_KO[d] for d in self.days)
        return f"{when} {self.at:%H:%M} KST"


def job_specs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec("weekly_retrain", "주간 재학습 (트리 → LSTM → 섹터, 각각 검증 통과 시 교체)", dt.time(3, 0), (SUNDAY,),
                False),
        JobSpec("model_health", "모델 점검 (만료 모델·실전 순위상관 경보)", HEALTH_TIME, EVERY_DAY, False),
        JobSpec("update_data", "장 마감 후 데이터 갱신", _hhmm(settings.update_time), WEEKDAYS, True),
        JobSpec("score_market", "장 마감 후 시장 채점", _hhmm(settings.score_time), WEEKDAYS, True),
        JobSpec("push_signals", "구독자에게 신호 푸시", _hhmm(settings.push_time), WEEKDAYS, True),
    ]


def next_run(spec: JobSpec, now: dt.datetime, calendar: TradingCalendar | None = None) -> dt.datetime:
    """When ``spec`` next fires *and does its work* after ``now`` (trading-day jobs skip holidays)."""
    now = now.astimezone(SEOUL)
    for offset in range(0, 370):
        day = now.date() + dt.timedelta(days=offset)
        if ptb_weekday(day) not in spec.days:
            continue
        if spec.trading_days_only and calendar is not None and not calendar.is_trading_day(day):
            continue
        at = dt.datetime.combine(day, spec.at, SEOUL)
        if at > now:
            return at
    raise ValueError(f"{spec.name}: no run within a year")  # pragma: no cover


def describe_jobs(settings: Settings, now: dt.datetime, calendar: TradingCalendar | None) -> list[dict[str, Any]]:
    return [{"name": s.name, "description": s.description, "schedule": s.schedule,
             "trading_days_only": s.trading_days_only, "next_run": next_run(s, now, calendar).isoformat()}
            for s in job_specs(settings)]


def schedule_jobs(app: Application, runtime: BotRuntime) -> dict[str, Job]:
    """Register the daily and weekly jobs on ``app.job_queue``; returns them by name."""
    if app.job_queue is None:
        raise KstockError("the job queue is unavailable: install python-telegram-bot[job-queue]")
    callbacks = {"weekly_retrain": weekly_retrain_job, "model_health": model_health_job, "update_data": update_job,
                 "score_market": score_job, "push_signals": push_job}
    jobs = {}
    for spec in job_specs(runtime.settings):
        jobs[spec.name] = app.job_queue.run_daily(
            callbacks[spec.name], time=spec.time_kst, days=spec.days, name=spec.name, data=spec,
            job_kwargs={"misfire_grace_time": MISFIRE_GRACE_S, "coalesce": True},
        )
    return jobs


# ---- PTB callbacks (thin: the work is in the plain coroutines below) ------------------------------------

async def weekly_retrain_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    await run_weekly_retrains(rt, context.bot, rt.now())


async def model_health_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    try:
        await run_model_health(rt, context.bot, rt.now())
    except Exception:  # a check that failed today runs again tomorrow; nothing else depends on it
        log.exception("model health check failed")


async def update_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    try:
        step = await run_update(rt, rt.now())
    except Exception as exc:
        retry_later(context, update_job, "update_data", str(exc))
        return
    if step is not None and step.status in ("failed", "stale"):
        retry_later(context, update_job, "update_data", step.message)


async def score_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    try:
        await run_scoring(rt, rt.now(), bot=context.bot)
    except Exception as exc:  # recorded as a failed run by run_scoring; try again later today
        retry_later(context, score_job, "score_market", str(exc))


async def push_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    try:
        report = await run_push(rt, context.bot, rt.now())
    except Exception as exc:
        log.warning("push failed: %s", exc)
        retry_later(context, push_job, "push_signals", str(exc))
        return
    if report.failed:  # deliveries that certainly failed were released; a retry sends only those
        retry_later(context, push_job, "push_signals", f"{report.failed} deliveries failed")


def retry_later(context: ContextTypes.DEFAULT_TYPE, callback: Any, name: str, reason: str) -> Job | None:
    """Schedule ``callback`` again in :data:`RETRY_DELAY_S`, at most :data:`JOB_RETRIES` times in a row."""
    data = context.job.data if context.job is not None and isinstance(context.job.data, dict) else {}
    attempt = int(data.get("attempt", 0)) + 1
    if attempt > JOB_RETRIES or context.job_queue is None:
        log.error("%s failed again (%s); no more retries today", name, reason)
        return None
    log.warning("%s failed (%s); retry %d/%d in %d min", name, reason, attempt, JOB_RETRIES, RETRY_DELAY_S // 60)
    return context.job_queue.run_once(callback, RETRY_DELAY_S, data={"attempt": attempt}, name=f"{name}_retry",
                                      job_kwargs={"misfire_grace_time": MISFIRE_GRACE_S})


async def startup_catch_up_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    await catch_up(rt, context.bot, rt.now())


# ---- job bodies ---------------------------------------------------------------------------------------------

async def run_weekly_retrain(rt: BotRuntime, bot: Bot | None, now: dt.datetime | None = None,
                             name: str = "lstm") -> RetrainResult | None:
    """Retrain the one kind ``name`` as the Sunday job does; None when a retrain was running."""
    results = await run_weekly_retrains(rt, bot, now, kinds=(name,))
    return results[0] if results else None


async def run_weekly_retrains(rt: BotRuntime, bot: Bot | None, now: dt.datetime | None = None,
                              kinds: Sequence[str] | None = None) -> list[RetrainResult] | None:
    """Retrain ``kinds`` one after another off the event loop, each through the gate and recorded as its own
    run; admins get one summary (default: :func:`~kstock.ml.models.weekly_kinds`). None when another retrain
    was running (each kind's skip is recorded)."""
    now = now or rt.now()
    kinds = weekly_kinds() if kinds is None else kinds
    if rt.retrain_lock.locked():
        for name in kinds:
            await rt.run_store(record_skip, rt, f"retrain:{name}", "another retrain was running")
        return None
    results: list[RetrainResult] = []
    skipped: dict[str, str] = {}
    async with rt.retrain_lock:
        for name in kinds:
            why = unavailable_reason(name)
            if why is not None:
                skipped[name] = why
                continue
            log.info("weekly %s retrain started (%s)", name, now.isoformat(timespec="minutes"))
            result = await rt.run_heavy(retrain, rt.services, name, **rt.retrain_options.get(name, {}))
            log.info("weekly %s retrain: %s — %s", name, result.status, result.reason)
            results.append(result)
    if bot is not None:
        text = messages.weekly_retrain_summary(now.astimezone(SEOUL).date(), results, skipped)
        for admin in rt.settings.admin_ids:
            try:
                await rt.delivery.send_text(bot, admin, text)
            except (ChatUnreachable, TelegramError) as exc:
                log.warning("could not tell an admin about the weekly retrain: %s", type(exc).__name__)
    return results


async def run_update(rt: BotRuntime, now: dt.datetime | None = None) -> StepResult | None:
    """The day's data update (once per trading day); None when there was nothing to do."""
    now = now or rt.now()
    if not rt.calendar().is_trading_day(now.date()):
        await rt.run_store(record_skip, rt, "update", f"{now.date()} is not a KRX trading day")
        return None
    async with rt.score_lock:  # and, in the worker, the store's loop lock (cron's `kstock daily` beside the bot)
        done = await rt.run_heavy(daily.update_today, rt.services, None, now, clock_day=now.date().isoformat())
    if done is None:
        return None  # the simulated market moves one day per calendar day in the bot
    day, step = done
    log.info("data update for %s: %s — %s", day, step.status, step.message)
    return step


async def run_scoring(rt: BotRuntime, now: dt.datetime | None = None, *, force: bool = False,
                      bot: Bot | None = None) -> ScoringReport | None:
    """Score the day on a trading day (its update first if still missing); ``force`` (admin /score) scores the
    last stored day now, whatever the calendar.

    A day whose data did not arrive is recorded as stale — no book — and each admin is told once. Raises
    :class:`KstockError` when scoring fails (no model, no data); the run is recorded either way.
    """
    now = now or rt.now()
    if force:
        async with rt.score_lock:
            report = await rt.run_heavy(daily.score_now, rt.services, wait=INTERACTIVE_WAIT)  # a chat's wait
        log.info("scored %d stocks for %s (by hand)", report.scored, report.date)
        if rt.predraw_charts:
            schedule_predraw(rt, report.date)
        return report
    if not rt.calendar().is_trading_day(now.date()):
        await rt.run_store(record_skip, rt, "score", f"{now.date()} is not a KRX trading day")
        return None
    async with rt.score_lock:  # and, in the worker, the store's loop lock (cron's `kstock daily` beside the bot)
        day, update, step, report = await rt.run_heavy(daily.score_today, rt.services, now,
                                                       clock_day=now.date().isoformat())
    if step.status == "stale":
        log.warning("scoring for %s is stale: %s", day, step.message)
        if bot is not None:
            await tell_admins_stale(rt, bot, day, update, step)
        return None
    if report is not None:
        log.info("scored %d stocks for %s", report.scored, report.date)
        if bot is not None:  # watchers whose stocks' calls changed hear it once, right after the day's scoring
            try:
                await send_watch_alerts(rt, bot, report.date)
            except Exception:  # an alert failure must not fail the scoring (the push still follows)
                log.exception("watch alerts for %s failed", report.date)
        if rt.predraw_charts:  # the basket's and watched stocks' pictures, drawn before anyone asks
            schedule_predraw(rt, report.date)
    return report


async def catch_up(rt: BotRuntime, bot: Bot, now: dt.datetime | None = None) -> dict[str, Any]:
    """Run the steps missed while the bot was down: the day's, on a trading day past their times; then the
    last published book's push if it never went out (a bot started on a holiday or the next morning)."""
    now = now or rt.now()
    done = await _catch_up_today(rt, bot, now) if rt.calendar().is_trading_day(now.date()) else {}
    if "push" not in done:
        try:
            push = await catch_up_push(rt, bot, now)
        except (KstockError, TelegramError) as exc:
            log.warning("catch-up push failed: %s", exc)
        else:
            if push is not None and (push.sent or push.blocked or push.failed):
                done["push"] = push
    return done


async def _catch_up_today(rt: BotRuntime, bot: Bot, now: dt.datetime) -> dict[str, Any]:
    """The trading day's update, scoring and push, each only past its time."""
    done: dict[str, Any] = {}
    specs = {s.name: s for s in job_specs(rt.settings)}
    if now.time() >= specs["update_data"].at:
        try:
            step = await run_update(rt, now)
        except KstockError as exc:
            log.warning("catch-up update failed: %s", exc)
        else:
            if step is not None and step.status != "done":
                done["update"] = step
    if now.time() >= specs["score_market"].at:
        try:
            report = await run_scoring(rt, now, bot=bot)
        except KstockError as exc:
            log.warning("catch-up scoring failed: %s", exc)
        else:
            if report is not None:
                done["score"] = report
    if now.time() >= specs["push_signals"].at:
        push = await run_push(rt, bot, now)
        if push.sent or push.blocked or push.failed:
            log.info("caught up the push missed while down")
            done["push"] = push
    return done
