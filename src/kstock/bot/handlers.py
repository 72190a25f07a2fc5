"""Command and button handlers: parse, check, call the service layer off the loop, reply.

Every reply goes through :class:`~kstock.bot.delivery.Delivery` (split, escaped, RetryAfter,
blocked users). Service errors (:class:`~kstock.errors.KstockError`) are shown to the user as they
are — they are written for people; anything else is a bug: logged, and the user gets an apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Conflict, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from kstock.bot import failures, leftovers, messages
from kstock.bot.analysis_flow import (
    ANALYZE_BUTTON,
    CHART_BUTTON,
    MAX_BUTTONS,
    REFRESH_BUTTON,
    SIGNAL_BUTTON,
    WATCH_BUTTON,
    answer_analysis,
    send_chart,
    within_limit,
)
from kstock.bot.buttons import chart_button, expired, pick_button, refresh_button, signal_button
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.jobs import describe_jobs, run_scoring
from kstock.bot.performance_handler import performance_command
from kstock.bot.progress import ProgressMessage
from kstock.bot.runtime import BotRuntime, command_args, runtime_of
from kstock.bot.security import anon, is_admin, is_allowed
from kstock.bot.signals_book import asked_day, book_text
from kstock.bot.subscriptions import INTERACTIVE_WAIT
from kstock.bot.text import truncate
from kstock.bot.watch_handlers import (
    WATCH_PICK_BUTTON,
    unwatch_command,
    watch_button,
    watch_command,
    watchlist_command,
)
from kstock.errors import KstockError, is_write_failure
from kstock.market.freshness import SEOUL
from kstock.market.store import StoreError
from kstock.ml.models import known_kinds, retrain_kinds
from kstock.service.retrain import RetrainResult, retrain
from kstock.service.scoring import NotScoredError
from kstock.service.status import models_status, service_status

log = logging.getLogger(__name__)

RETRAIN_BUTTON = "r:"
#: Seconds a stopping bot spends telling the admin that the retrain was stopped.
STOP_NOTE_S = 2.0
__all__ = ["MAX_BUTTONS", "answer_analysis", "register_handlers", "send_chart"]


async def _reply(rt: BotRuntime, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
                 markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    chat = update.effective_chat
    if chat is None:
        return []
    try:
        return await rt.delivery.send_text(context.bot, chat.id, text, reply_markup=markup)
    except ChatUnreachable:
        return []


# ---- access ----------------------------------------------------------------------------------------------

async def access_gate(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -1: updates from chats outside KSTOCK_ALLOWED_CHAT_IDS stop here (with one polite line)."""
    if not isinstance(update, Update):
        return
    rt = runtime_of(context)
    chat, user = update.effective_chat, update.effective_user
    if is_allowed(rt.settings, chat.id if chat else None, user.id if user else None):
        return
    log.info("refused an update from %s (not in KSTOCK_ALLOWED_CHAT_IDS)", anon(chat.id if chat else None))
    first = rt.refusals.first(chat.id if chat else None)
    if update.callback_query is not None:  # every press is answered (a toast, not a message): no spinner
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(messages.NOT_ALLOWED, show_alert=first)
        raise ApplicationHandlerStop
    if not first:
        raise ApplicationHandlerStop  # answered within the hour already: stay quiet
    if update.message is not None and chat is not None:
        with contextlib.suppress(ChatUnreachable, TelegramError):
            await rt.delivery.send_text(context.bot, chat.id, messages.NOT_ALLOWED)
    raise ApplicationHandlerStop


# ---- simple commands -------------------------------------------------------------------------------------

async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    await _reply(runtime_of(context), update, context,
                 messages.welcome(user.first_name if user else None, _is_admin(runtime_of(context), update)))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(runtime_of(context), update, context, messages.help_text(_is_admin(runtime_of(context), update)))


def _is_admin(rt: BotRuntime, update: Update) -> bool:
    """Admins get the details (model reasons, shell commands, error texts); everyone else plain Korean."""
    user = update.effective_user
    return is_admin(rt.settings, user.id if user else None)


async def signals(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/signals`` (the last scored day) or ``/signals 2025-07-10`` (a past day's published book); under the
    user's limit, which a refused date or a day with no book does not count against."""
    rt = runtime_of(context)
    key = await within_limit(rt, context.bot, update)
    if key is None:
        return
    asked = None
    try:
        asked = await asyncio.to_thread(asked_day, rt, command_args(update.effective_message)[:40])
        date, text, buys, sells = await book_text(rt, asked)
    except NotScoredError:
        rt.limiter.refund(key)
        text, buys, sells, date = f"{asked}에는 발행된 신호가 없습니다 (거래일이 아니거나 채점 전인 날).", [], [], None
    except KstockError as exc:  # an unreadable date (DateInputError) answers why, in Korean
        rt.limiter.refund(key)
        text, buys, sells, date = str(exc), [], [], None
    await _reply(rt, update, context, text, messages.signal_buttons(buys, sells, date))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    user = update.effective_user
    try:  # off the loop: a store locked by another writer must not freeze the other chats
        new = await rt.run_store(rt.subscriptions.subscribe, update.effective_chat.id, user.id if user else None)
    except StoreError as exc:
        await _reply(rt, update, context, failures.explain(exc))
        return
    await _reply(rt, update, context, messages.subscribed(new, rt.settings.push_time))


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    try:  # off the loop, like /subscribe
        was = await rt.run_store(rt.subscriptions.unsubscribe, update.effective_chat.id, "user request (/unsubscribe)")
    except StoreError as exc:
        await _reply(rt, update, context, failures.explain(exc))
        return
    await _reply(rt, update, context, messages.unsubscribed(was))


async def model(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    rows = await asyncio.to_thread(models_status, rt.services)
    await _reply(rt, update, context, messages.models_text(rows, _is_admin(rt, update)))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    admin = _is_admin(rt, update)  # an admin also reads the bad-row count of `kstock data check`
    state = await asyncio.to_thread(service_status, rt.services, admin)
    counts, calendar = await rt.run_store(lambda: (rt.subscriptions.counts(), rt.calendar()))
    head = messages.status_text(state, admin)
    lines = [head, f"구독자: {counts['active']}명", "다음 예약 작업:"]
    lines += [messages.job_line(job) for job in describe_jobs(rt.settings, rt.now(), calendar)]
    await _reply(rt, update, context, "\n".join(lines))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(runtime_of(context), update, context, messages.UNKNOWN_COMMAND)


# ---- /analyze --------------------------------------------------------------------------------------------

async def analyze_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    message, user = update.effective_message, update.effective_user
    with contextlib.suppress(ChatUnreachable):
        await answer_analysis(rt, context.bot, update.effective_chat.id, user.id if user else None,
                              command_args(message), reply_to=None)


async def analyze_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a private chat, a plain message (``삼성전자``) is an /analyze query."""
    rt = runtime_of(context)
    message, user = update.effective_message, update.effective_user
    with contextlib.suppress(ChatUnreachable):
        await answer_analysis(rt, context.bot, update.effective_chat.id, user.id if user else None,
                              message.text or "")


# ---- admin: /retrain and /score --------------------------------------------------------------------------

async def _refuse_non_admin(rt: BotRuntime, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    if is_admin(rt.settings, user.id if user else None):
        return False
    log.info("refused an admin command from a non-admin (%s)", anon(update.effective_chat.id))
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(messages.ADMIN_ONLY, show_alert=True)
    else:
        await _reply(rt, update, context, messages.ADMIN_ONLY)
    return True


async def retrain_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    if await _refuse_non_admin(rt, update, context):
        return
    target = command_args(update.effective_message).lower()
    if target not in messages.retrain_targets():
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=f"{RETRAIN_BUTTON}{t}")
                                          for t in messages.retrain_targets()]])
        await _reply(rt, update, context, messages.retrain_usage(), keyboard)
        return
    await run_admin_retrain(rt, context.bot, update.effective_chat.id, target)


async def retrain_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    if await _refuse_non_admin(rt, update, context):
        return
    query = update.callback_query
    target = (query.data or "")[len(RETRAIN_BUTTON):]
    if target not in messages.retrain_targets() or query.message is None:
        await expired(query)
        return
    with contextlib.suppress(TelegramError):
        await query.answer()
    await run_admin_retrain(rt, context.bot, query.message.chat.id, target)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button no other handler takes (``zzz``, ``\\x00``, emoji, a forged press): answered, never left
    spinning."""
    log.info("answered an unknown button (%d bytes of data)", len((update.callback_query.data or "").encode()))
    await expired(update.callback_query)


async def run_admin_retrain(rt: BotRuntime, bot, chat_id: int, target: str) -> list[RetrainResult]:
    """Retrain ``target`` (or every kind ``/retrain`` offers for ``all``) with progress in one edited message."""
    names = [k for k in known_kinds() if k in retrain_kinds()] if target == "all" else [target]
    if rt.retrain_lock.locked():
        await rt.delivery.send_text(bot, chat_id, messages.RETRAIN_BUSY)
        return []
    async with rt.retrain_lock:
        started = rt.now().astimezone(SEOUL).strftime("%H:%M:%S")
        first = await rt.delivery.send_text(bot, chat_id, messages.retrain_progress(names, ["준비 중…"], started))
        progress = ProgressMessage(rt.delivery, bot, chat_id, first[0].message_id,
                                   lambda lines: messages.retrain_progress(names, lines, started), rt.progress_interval)
        # noted in the store while it runs: a bot killed meanwhile fixes the message at its next start
        await rt.run_store(leftovers.remember_progress, rt.services.store, chat_id, first[0].message_id)
        results: list[RetrainResult] = []
        try:
            for name in names:
                began = time.monotonic()
                result = await rt.run_heavy(retrain, rt.services, name, progress=progress.from_thread,
                                            store_wait=INTERACTIVE_WAIT, **rt.retrain_options.get(name, {}))
                log.info("admin retrain %s: %s in %.1f s", name, result.status, time.monotonic() - began)
                results.append(result)
            await asyncio.sleep(0)  # let the last progress lines from the worker thread land first
            await progress.finish(messages.retrain_done(names, results))
        except asyncio.CancelledError:  # the bot is stopping (SIGINT/SIGTERM): say so while it still can
            with contextlib.suppress(Exception):
                await asyncio.wait_for(progress.finish(leftovers.INTERRUPTED_TEXT), STOP_NOTE_S)
            raise
        finally:
            await rt.run_store(leftovers.forget_progress, rt.services.store, chat_id, first[0].message_id)
    return results


async def score_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    if await _refuse_non_admin(rt, update, context):
        return
    if rt.score_lock.locked():
        await _reply(rt, update, context, messages.SCORE_BUSY)
        return
    sent = await _reply(rt, update, context, "⏳ 시장 채점 중…")
    try:
        report = await run_scoring(rt, force=True)
    except KstockError as exc:  # a store another writer holds: Korean, no file name, after the short wait
        text = f"채점 실패: {failures.explain(exc)}"
    else:  # the stored book, whole (a day already published keeps its book; the reply shows that one)
        text = "채점할 수 없습니다." if report is None else (
            f"✅ 채점 완료: {report.date} · {report.scored}종목\n" + (await book_text(rt, report.date))[1])
    if sent:
        await rt.delivery.edit_text(context.bot, update.effective_chat.id, sent[0].message_id, text)
    else:
        await _reply(rt, update, context, text)


# ---- errors ----------------------------------------------------------------------------------------------

#: This many 409 Conflicts from getUpdates within CONFLICT_WINDOW seconds stop the bot (another instance
#: polls with the same token — on another machine, since the token lock catches this one's).
CONFLICT_LIMIT = 4
CONFLICT_WINDOW = 120.0
#: bot_data key set when the bot stopped itself over repeated 409 Conflicts (run_bot then says so).
CONFLICT_STOP = "stopped_by_conflict"


def _conflict(context: ContextTypes.DEFAULT_TYPE, err: Conflict) -> None:
    """Count a 409 Conflict; after CONFLICT_LIMIT in a row stop polling instead of fighting forever."""
    data = context.application.bot_data
    now = time.monotonic()
    times = [t for t in data.get("conflicts", []) if now - t < CONFLICT_WINDOW] + [now]
    data["conflicts"] = times
    if len(times) < CONFLICT_LIMIT:
        log.warning("409 Conflict from getUpdates (%d/%d): another process is polling with this bot token (or a "
                    "webhook is set); the bot stops after %d in a row", len(times), CONFLICT_LIMIT, CONFLICT_LIMIT)
        return
    if not data.get(CONFLICT_STOP):
        data[CONFLICT_STOP] = len(times)
        log.error("409 Conflict from getUpdates %d times: another process is polling with this bot token (or a "
                  "webhook is set); stopping this one instead of fighting over updates. Telegram says: %s",
                  len(times), err.message)
        context.application.stop_running()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log what went wrong (never the token, never a user's chat id) and apologise to the user."""
    err = context.error
    if isinstance(err, Conflict):
        _conflict(context, err)
        return
    if update is None and isinstance(err, NetworkError):
        log.warning("network problem talking to Telegram (will retry): %s", err)
        return
    if isinstance(err, NetworkError) and not isinstance(err, BadRequest):
        # A reply timed out (or the connection dropped) while answering: Telegram may well have delivered it,
        # so an "an error occurred" apology would follow an answer the user already has — and would likely
        # fail the same way. Not a bug either, so no traceback: one line, and the user can simply ask again.
        log.warning("a reply could not be confirmed (%s: %s); Telegram may still deliver it — no apology sent",
                    type(err).__name__, err)
        return
    if isinstance(err, ChatUnreachable):
        return  # already handled: the chat was unsubscribed
    if isinstance(err, KstockError) or is_write_failure(err):  # written for people, or a failed write
        log.warning("request failed: %s", err)
        text = failures.explain(err)  # Korean for a busy store or a full disk; never a path or a trace
    else:
        log.error("unhandled error while handling an update", exc_info=err)
        text = messages.INTERNAL_ERROR
    if isinstance(update, Update) and update.callback_query is not None:  # a failed button stops spinning too
        with contextlib.suppress(TelegramError):  # (already answered before it failed: nothing to do)
            await update.callback_query.answer(truncate(text, 190))
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(Exception):
            await runtime_of(context).delivery.send_text(context.bot, update.effective_chat.id, text)


def command_callbacks() -> dict[str, Callable[..., Awaitable[None]]]:
    """Each command of :data:`~kstock.bot.messages.COMMAND_LIST` → the coroutine that answers it."""
    return {"start": start, "help": help_command, "analyze": analyze_command, "signals": signals,
            "performance": performance_command, "subscribe": subscribe, "unsubscribe": unsubscribe, "model": model,
            "status": status, "retrain": retrain_command, "score": score_command, "watch": watch_command,
            "unwatch": unwatch_command, "watchlist": watchlist_command}


def register_handlers(app: Application) -> None:
    app.add_handler(TypeHandler(Update, access_gate), group=-1)
    callbacks = command_callbacks()
    for command in messages.COMMAND_LIST:  # the one list the menus and /help are built from too
        app.add_handler(CommandHandler(command.name, callbacks[command.name]))
    app.add_handler(CallbackQueryHandler(pick_button, pattern=f"^{ANALYZE_BUTTON}"))
    app.add_handler(CallbackQueryHandler(refresh_button, pattern=f"^{REFRESH_BUTTON}"))
    app.add_handler(CallbackQueryHandler(chart_button, pattern=f"^{CHART_BUTTON}"))
    app.add_handler(CallbackQueryHandler(signal_button, pattern=f"^{SIGNAL_BUTTON}"))
    app.add_handler(CallbackQueryHandler(watch_button, pattern=f"^(?:{WATCH_BUTTON}|{WATCH_PICK_BUTTON})"))
    app.add_handler(CallbackQueryHandler(retrain_button, pattern=f"^{RETRAIN_BUTTON}"))
    app.add_handler(CallbackQueryHandler(unknown_button))  # last: every other press is answered too
    app.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, analyze_text))
    app.add_error_handler(on_error)
