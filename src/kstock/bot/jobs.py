"""Scheduled jobs on the application's JobQueue, in Asia/Seoul.

=================  ==========================  =====================================================
job                when (KST)                  what
=================  ==========================  =====================================================
``lstm_retrain``   Sundays 03:00               retrain the LSTM (gate: promoted or kept), tell admins
``score_market``   trading days, score_time    score the whole market, store signals
``push_signals``   trading days, push_time     send the signals to subscribers, once per day each
=================  ==========================  =====================================================

PTB (≥ 20) numbers weekdays 0 = Sunday … 6 = Saturday in ``run_daily(days=...)``, unlike Python's
``date.weekday()`` (0 = Monday): :func:`ptb_weekday` converts. Trading-day jobs are scheduled Monday to
Friday and skip KRX holidays when they fire (:class:`~kstock.market.calendar.TradingCalendar`), so the
schedule itself never needs rebuilding. Every job body is a plain coroutine taking an explicit
``now`` — tests call it with a fake clock instead of waiting for the schedule.

A scoring or push that fails is retried :data:`JOB_RETRIES` times, :data:`RETRY_DELAY_S` apart
(:func:`retry_later`). On start (:func:`catch_up`) a scoring or push missed while the bot was down runs
once, if it is still that trading day and past its time; the push log guarantees nobody gets the day's
push twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.error import TelegramError, TimedOut

from kstock.bot import messages
from kstock.bot.delivery import ChatUnreachable
from kstock.errors import KstockError
from kstock.market.calendar import TradingCalendar
from kstock.market.freshness import SEOUL
from kstock.service import runs
from kstock.service.retrain import RetrainResult, retrain
from kstock.service.scoring import ScoringReport, last_scored_date, score_market, stored_signals

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application, ContextTypes, Job

    from kstock.bot.runtime import BotRuntime
    from kstock.config import Settings

log = logging.getLogger(__name__)

KST = SEOUL
SUNDAY = 0  # PTB numbering
WEEKDAYS = (1, 2, 3, 4, 5)  # Monday … Friday, PTB numbering
DAY_NAMES_KO = ("일", "월", "화", "수", "목", "금", "토")  # by PTB number
#: A job that fires late (busy loop, suspended machine) still runs within this many seconds.
MISFIRE_GRACE_S = 15 * 60
#: Seconds between two push messages (Telegram allows ~30 messages/s overall).
PUSH_PACE_S = 0.05
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
        return self.at.replace(tzinfo=KST)

    @property
    def schedule(self) -> str:
        if self.trading_days_only:
            when = "거래일"
        elif self.days == (SUNDAY,):
            when = "매주 일요일"
        else:
            when = "/".join(DAY_NAMES_KO[d] for d in self.days)
        return f"{when} {self.at:%H:%M} KST"


def job_specs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec("lstm_retrain", "LSTM 주간 재학습", dt.time(3, 0), (SUNDAY,), False),
        JobSpec("score_market", "장 마감 후 시장 채점", _hhmm(settings.score_time), WEEKDAYS, True),
        JobSpec("push_signals", "구독자에게 신호 푸시", _hhmm(settings.push_time), WEEKDAYS, True),
    ]


def next_run(spec: JobSpec, now: dt.datetime, calendar: TradingCalendar | None = None) -> dt.datetime:
    """When ``spec`` next fires *and does its work* after ``now`` (trading-day jobs skip holidays)."""
    now = now.astimezone(KST)
    for offset in range(0, 370):
        day = now.date() + dt.timedelta(days=offset)
        if ptb_weekday(day) not in spec.days:
            continue
        if spec.trading_days_only and calendar is not None and not calendar.is_trading_day(day):
            continue
        at = dt.datetime.combine(day, spec.at, KST)
        if at > now:
            return at
    raise ValueError(f"{spec.name}: no run within a year")  # pragma: no cover


def describe_jobs(settings: Settings, now: dt.datetime, calendar: TradingCalendar | None) -> list[dict[str, Any]]:
    return [{"name": s.name, "description": s.description, "schedule": s.schedule,
             "trading_days_only": s.trading_days_only, "next_run": next_run(s, now, calendar).isoformat()}
            for s in job_specs(settings)]


def schedule_jobs(app: Application, runtime: BotRuntime) -> dict[str, Job]:
    """Register the three daily/weekly jobs on ``app.job_queue``; returns them by name."""
    if app.job_queue is None:
        raise KstockError("the job queue is unavailable: install python-telegram-bot[job-queue]")
    callbacks = {"lstm_retrain": weekly_retrain_job, "score_market": score_job, "push_signals": push_job}
    jobs = {}
    for spec in job_specs(runtime.settings):
        jobs[spec.name] = app.job_queue.run_daily(
            callbacks[spec.name], time=spec.time_kst, days=spec.days, name=spec.name, data=spec,
            job_kwargs={"misfire_grace_time": MISFIRE_GRACE_S, "coalesce": True},
        )
    return jobs


def _runtime(context: ContextTypes.DEFAULT_TYPE) -> BotRuntime:
    return context.application.bot_data["runtime"]


# ---- PTB callbacks (thin: the work is in the plain coroutines below) ------------------------------------

async def weekly_retrain_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = _runtime(context)
    await run_weekly_retrain(rt, context.bot, rt.now())


async def score_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = _runtime(context)
    try:
        await run_scoring(rt, rt.now())
    except Exception as exc:  # recorded as a failed run by run_scoring; try again later today
        retry_later(context, score_job, "score_market", str(exc))


async def push_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = _runtime(context)
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
    rt = _runtime(context)
    await catch_up(rt, context.bot, rt.now())


# ---- job bodies ---------------------------------------------------------------------------------------------

def _skip(rt: BotRuntime, job: str, reason: str) -> None:
    log.info("%s skipped: %s", job, reason)
    run_id = runs.start_run(rt.services.store, job)
    runs.finish_run(rt.services.store, run_id, "skipped", {}, reason)


async def run_weekly_retrain(rt: BotRuntime, bot: Bot | None, now: dt.datetime | None = None,
                             name: str = "lstm") -> RetrainResult | None:
    """Retrain ``name`` off the event loop; admins get the result. None when a retrain was running."""
    now = now or rt.now()
    if rt.retrain_lock.locked():
        _skip(rt, f"retrain:{name}", "another retrain was running")
        return None
    async with rt.retrain_lock:
        log.info("weekly %s retrain started (%s)", name, now.isoformat(timespec="minutes"))
        result = await rt.run_heavy(retrain, rt.services, name, **rt.retrain_options.get(name, {}))
    log.info("weekly %s retrain: %s — %s", name, result.status, result.reason)
    if bot is not None:
        text = "🗓 주간 재학습 결과\n" + messages.retrain_result(result)
        for admin in rt.settings.admin_ids:
            try:
                await rt.delivery.send_text(bot, admin, text)
            except (ChatUnreachable, TelegramError) as exc:
                log.warning("could not tell an admin about the weekly retrain: %s", type(exc).__name__)
    return result


async def run_scoring(rt: BotRuntime, now: dt.datetime | None = None, *, force: bool = False) -> ScoringReport | None:
    """Score the market (the last stored day) on a trading day; ``force`` (admin /score) skips the check.

    Raises :class:`KstockError` when scoring fails (no model, no data); the run is recorded either way.
    """
    now = now or rt.now()
    if not force and not rt.calendar().is_trading_day(now.date()):
        _skip(rt, "score", f"{now.date()} is not a KRX trading day")
        return None
    async with rt.score_lock:
        run_id = runs.start_run(rt.services.store, "score")
        try:
            report = await rt.run_heavy(score_market, rt.services)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, KstockError) else f"{type(exc).__name__}: {exc}"
            runs.finish_run(rt.services.store, run_id, "failed", {}, reason)
            if not isinstance(exc, KstockError):
                log.exception("market scoring failed")
            raise
        runs.finish_run(rt.services.store, run_id, "ok", {"date": report.date, "scored": report.scored,
                                                          "versions": report.versions})
    log.info("scored %d stocks for %s", report.scored, report.date)
    return report


@dataclass
class PushReport:
    day: dt.date
    status: str  # done / skipped
    reason: str = ""
    date: str | None = None  # the signals' date
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    already: int = 0
    chats: list[int] = field(default_factory=list, repr=False)


async def run_push(rt: BotRuntime, bot: Bot, now: dt.datetime | None = None) -> PushReport:
    """Send the latest signals to every active subscriber not yet pushed today (KST day)."""
    now = now or rt.now()
    day = now.date()
    if not rt.calendar().is_trading_day(day):
        reason = f"{day} is not a KRX trading day"
        _skip(rt, "push", reason)
        return PushReport(day, "skipped", reason)
    async with rt.score_lock:  # a scoring still running at push time finishes first
        pass
    async with rt.push_lock:
        pending = rt.subscriptions.pending_push(day)
        if not pending:
            return PushReport(day, "done", "nothing to send (no subscribers, or everyone already has today's push)")
        try:
            date, (buys, sells) = await asyncio.to_thread(latest_signals, rt)
        except KstockError as exc:
            _skip(rt, "push", str(exc))
            return PushReport(day, "skipped", str(exc))
        text = messages.push_text(date, buys, sells)
        report = PushReport(day, "done", date=date)
        run_id = runs.start_run(rt.services.store, "push")
        for chat_id in pending:
            if not rt.subscriptions.claim_push(day, chat_id):
                report.already += 1
                continue
            try:
                await rt.delivery.send_text(bot, chat_id, text)
            except ChatUnreachable:
                rt.subscriptions.finish_push(day, chat_id, "blocked")
                report.blocked += 1
            except TimedOut:  # Telegram may have delivered it: never risk a second copy
                rt.subscriptions.finish_push(day, chat_id, "unknown")
                report.failed += 1
            except TelegramError as exc:  # certainly not delivered: a later run today may retry
                log.warning("push to a subscriber failed: %s", type(exc).__name__)
                rt.subscriptions.release_push(day, chat_id)
                report.failed += 1
            else:
                rt.subscriptions.finish_push(day, chat_id, "sent")
                report.sent += 1
                report.chats.append(chat_id)
            await asyncio.sleep(PUSH_PACE_S)
        runs.finish_run(rt.services.store, run_id, "ok" if not report.failed else "failed",
                        {"date": date, "sent": report.sent, "blocked": report.blocked, "failed": report.failed},
                        f"{report.failed} deliveries failed" if report.failed else None)
    log.info("push for %s: %d sent, %d blocked, %d failed", day, report.sent, report.blocked, report.failed)
    return report


def latest_signals(rt: BotRuntime) -> tuple[str, tuple[list, list]]:
    date = last_scored_date(rt.services)
    return date or "", stored_signals(rt.services, date)


def scored_on(rt: BotRuntime, day: dt.date) -> bool:
    """Whether a successful scoring run started on ``day`` (KST)."""
    for run in runs.last_runs(rt.services.store, limit=20, job="score"):
        started = dt.datetime.fromisoformat(run.started_at).astimezone(KST).date()
        if started < day:
            return False
        if started == day and run.status == "ok":
            return True
    return False


async def catch_up(rt: BotRuntime, bot: Bot, now: dt.datetime | None = None) -> dict[str, Any]:
    """Run a scoring and a push missed while the bot was down — only on that trading day, past their times."""
    now = now or rt.now()
    done: dict[str, Any] = {}
    if not rt.calendar().is_trading_day(now.date()):
        return done
    specs = {s.name: s for s in job_specs(rt.settings)}
    if now.time() >= specs["score_market"].at and not scored_on(rt, now.date()):
        log.info("catching up the scoring missed while down")
        try:
            done["score"] = await run_scoring(rt, now)
        except KstockError as exc:
            log.warning("catch-up scoring failed: %s", exc)
    if now.time() >= specs["push_signals"].at and rt.subscriptions.pending_push(now.date()):
        log.info("catching up the push missed while down")
        done["push"] = await run_push(rt, bot, now)
    return done
