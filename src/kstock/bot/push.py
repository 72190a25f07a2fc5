"""The daily push (the day's book to subscribers) and the stale-day notes, once per chat per day.

Split from :mod:`kstock.bot.jobs` (which schedules it). The day is the source's trading day
(``Services.today``); the push log (``push_log``, one row per day, chat and kind) makes every send happen
at most once across retries and restarts, and a delivery that certainly failed is released for a retry.
A push killed midway resumes where it stopped: the chats already in the log are skipped.

A push to many subscribers is paced under Telegram's limit (:mod:`kstock.bot.pacing`: a few concurrent
senders sharing one :class:`~kstock.bot.pacing.RatePacer`, held for ``retry_after`` on a 429).

Catch-up (:func:`catch_up_push`): a bot that was down at push time — started on the evening after it, on a
holiday or the next morning — sends the last published book that never went out, once, with its date, as
long as no newer trading day has been published.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.error import TelegramError, TimedOut

from kstock.bot import messages
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.pacing import PUSH_SENDERS
from kstock.bot.subscriptions import PUSH_SIGNALS
from kstock.market.dates import iso
from kstock.market.freshness import SEOUL
from kstock.market.repositories import signals
from kstock.service import daily, runs
from kstock.service.daily import StepResult
from kstock.service.scoring import book_notes, latest_book

if TYPE_CHECKING:
    from telegram import Bot, InlineKeyboardMarkup

    from kstock.bot.runtime import BotRuntime

log = logging.getLogger(__name__)

#: push_log kinds besides the daily signals: the subscribers' note on a stale day, the admins' alert.
STALE_NOTE = "stale_note"
ADMIN_STALE = "admin_stale"
#: SELL warnings shown in the push (the book's holdings and trades are shown in full).
PUSH_SELLS = 5


def record_skip(rt: BotRuntime, job: str, reason: str) -> None:
    """Record a skipped run (it writes the store: call it through ``rt.run_store``, off the event loop)."""
    log.info("%s skipped: %s", job, reason)
    daily.record_run(rt.services, job, None, "skipped", {}, reason)


async def tell_admins_stale(rt: BotRuntime, bot: Bot, day: str, update: StepResult, score: StepResult) -> int:
    """One message per admin per stale day: what failed and how old the data is."""
    fresh = await asyncio.to_thread(daily.freshness, rt.services, day)
    text = messages.stale_admin(day, update.message if update.status == "failed" else "", fresh.data_date,
                                fresh.behind)
    if score.metrics.get("coverage"):  # the day came in part: how much, and which names are missing
        head, _, rest = text.partition("\n")
        text = f"{head}\n{score.message}\n{rest}"
    sent = 0
    key = dt.date.fromisoformat(day)
    for admin in rt.settings.admin_ids:
        if not await rt.run_store(rt.subscriptions.claim_push, key, admin, kind=ADMIN_STALE):
            continue
        try:
            await rt.delivery.send_text(bot, admin, text)
        except (ChatUnreachable, TelegramError) as exc:
            log.warning("could not tell an admin about stale data: %s", type(exc).__name__)
            await rt.run_store(rt.subscriptions.release_push, key, admin, kind=ADMIN_STALE)
            continue
        await rt.run_store(rt.subscriptions.finish_push, key, admin, "sent", kind=ADMIN_STALE)
        sent += 1
    return sent


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
    """Send the day's book to every active subscriber not yet pushed that day.

    The day is the source's trading day. Its book goes out only when that day was scored on current data;
    a stale day sends each subscriber one short "데이터 지연" note instead (never old signals as today's),
    and a day not scored yet sends nothing (the job's retry comes back).
    """
    now = now or rt.now()
    if not rt.calendar().is_trading_day(now.date()):
        reason = f"{now.date()} is not a KRX trading day"
        await rt.run_store(record_skip, rt, "push", reason)
        return PushReport(now.date(), "skipped", reason)
    async with rt.score_lock:  # a scoring still running at push time finishes first
        day = await asyncio.to_thread(rt.services.today, now)
    day_iso = day.isoformat()
    async with rt.push_lock:
        scored = await rt.run_store(daily.step_status, rt.services, daily.SCORE, day_iso)
        if scored == "stale":
            return await _push_stale_note(rt, bot, day)
        if scored != "ok":
            reason = f"{day_iso} has not been scored yet"
            return PushReport(day, "skipped", reason)
        report = await _push_book(rt, bot, day_iso)
    log.info("push for %s: %d sent, %d blocked, %d failed", day, report.sent, report.blocked, report.failed)
    return report


async def _push_book(rt: BotRuntime, bot: Bot, day_iso: str) -> PushReport:
    """The book of ``day_iso`` to every active subscriber who has no push-log row for that day yet."""
    day = dt.date.fromisoformat(day_iso)
    pending = await rt.run_store(rt.subscriptions.pending_push, day)
    if not pending:
        return PushReport(day, "done", "nothing to send (no subscribers, or everyone already has the push)",
                          day_iso)
    _, book = await rt.run_store(latest_book, rt.services, day_iso)
    buys, sells = book["BUY"], book["SELL"][:PUSH_SELLS]
    notes = await rt.run_store(book_notes, rt.services, day_iso)  # skipped days, why there is no basket
    text = messages.push_text(day_iso, buys, sells, rt.settings.top_k, rt.settings.label_horizon, book["EXIT"],
                              notes)
    keyboard = messages.signal_buttons([s for s in buys if s.entry in (None, "new")], sells, day_iso)
    report = await _deliver(rt, bot, day, pending, text, PUSH_SIGNALS, "push", keyboard)
    report.date = day_iso
    return report


def unpushed_book_day(rt: BotRuntime, now: dt.datetime) -> str | None:
    """The last published book's day (ISO) when its push time has passed and its push never completed.

    "Published" is the last scored day whose scoring step ended ``ok`` (a newer stale or unscored day
    publishes nothing, so it does not hide the last book); "completed" is a ``push`` run for that day that
    ended ``ok``. Reads the store: call it through ``rt.run_store``.
    """
    store = rt.services.store
    last = signals.last_day(store)
    if last is None:
        return None
    day = iso(last)
    if daily.step_status(rt.services, daily.SCORE, day) != "ok":
        return None
    hour, minute = (int(p) for p in rt.settings.push_time.split(":"))
    due = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), SEOUL)
    if now.astimezone(SEOUL) < due:  # before its push time: the scheduled job sends it
        return None
    pushed = runs.run_for_day(store, daily.PUSH, day)
    return None if pushed is not None and pushed.status == "ok" else day


async def catch_up_push(rt: BotRuntime, bot: Bot, now: dt.datetime) -> PushReport | None:
    """Send the last published book that never went out (see :func:`unpushed_book_day`); None when none.

    The push log keeps it to once per subscriber across restarts; its text carries the book's date.
    """
    async with rt.push_lock:
        day_iso = await rt.run_store(unpushed_book_day, rt, now)
        if day_iso is None:
            return None
        report = await _push_book(rt, bot, day_iso)
    if report.sent or report.blocked or report.failed:
        log.info("caught up the push of %s: %d sent, %d blocked, %d failed", day_iso, report.sent, report.blocked,
                 report.failed)
    return report


async def _push_stale_note(rt: BotRuntime, bot: Bot, day: dt.date) -> PushReport:
    """The one note subscribers get on a day whose data did not arrive."""
    pending = await rt.run_store(rt.subscriptions.pending_push, day, STALE_NOTE)
    if not pending:
        return PushReport(day, "done", "stale day: everyone already has the note")
    fresh = await asyncio.to_thread(daily.freshness, rt.services, day.isoformat())
    text = messages.stale_note(day.isoformat(), fresh.data_date, fresh.behind)
    report = await _deliver(rt, bot, day, pending, text, STALE_NOTE, "push_stale")
    report.reason = "stale day: sent the 데이터 지연 note"
    return report


async def _deliver(rt: BotRuntime, bot: Bot, day: dt.date, chats: list[int], text: str, kind: str,
                   job: str, keyboard: InlineKeyboardMarkup | None = None) -> PushReport:
    """Send ``text`` to each chat once for ``day`` (push log ``kind``), recorded as a job run.

    :data:`~kstock.bot.pacing.PUSH_SENDERS` senders take the chats in turn and share the runtime's pacer.
    """
    report = PushReport(day, "done")
    run_id = await rt.run_store(runs.start_run, rt.services.store, job, day.isoformat())
    queue = iter(chats)  # shared: each chat goes to exactly one sender

    async def sender() -> None:
        for chat_id in queue:
            await _deliver_one(rt, bot, day, chat_id, text, kind, keyboard, report)

    tasks = [asyncio.create_task(sender()) for _ in range(max(1, min(PUSH_SENDERS, len(chats))))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        await rt.run_store(runs.finish_run, rt.services.store, run_id, "failed", {"sent": report.sent},
                           "the push stopped midway")
        raise
    finally:
        for task in tasks:  # the first error stops the other senders too
            task.cancel()
    await rt.run_store(runs.finish_run, rt.services.store, run_id, "ok" if not report.failed else "failed",
                       {"date": day.isoformat(), "sent": report.sent, "blocked": report.blocked,
                        "failed": report.failed},
                       f"{report.failed} deliveries failed" if report.failed else None)
    return report


async def _deliver_one(rt: BotRuntime, bot: Bot, day: dt.date, chat_id: int, text: str, kind: str,
                       keyboard: InlineKeyboardMarkup | None, report: PushReport) -> None:
    """Wait for the pacer's turn, then claim, send and record one chat's message (the push log's rules in
    :mod:`kstock.bot.subscriptions`): a push stopped while waiting has claimed nothing it did not send."""
    await rt.push_pacer.wait()
    if not await rt.run_store(rt.subscriptions.claim_push, day, chat_id, kind):
        report.already += 1
        return
    try:
        await rt.delivery.send_text(bot, chat_id, text, reply_markup=keyboard, pacer=rt.push_pacer)
    except ChatUnreachable:
        await rt.run_store(rt.subscriptions.finish_push, day, chat_id, "blocked", kind)
        report.blocked += 1
    except TimedOut:  # Telegram may have delivered it: never risk a second copy
        await rt.run_store(rt.subscriptions.finish_push, day, chat_id, "unknown", kind)
        report.failed += 1
    except TelegramError as exc:  # certainly not delivered: a later run today may retry
        log.warning("push to a subscriber failed: %s", type(exc).__name__)
        await rt.run_store(rt.subscriptions.release_push, day, chat_id, kind)
        report.failed += 1
    else:
        await rt.run_store(rt.subscriptions.finish_push, day, chat_id, "sent", kind)
        report.sent += 1
        report.chats.append(chat_id)
