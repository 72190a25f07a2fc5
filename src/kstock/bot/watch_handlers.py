"""``/watch``, ``/unwatch``, ``/watchlist`` and the ☆ 관심종목 button.

Each reply shows the stock's call on the last scored day, so following a stock immediately says where
it stands. Lookups work as in ``/analyze`` (nicknames, 초성, candidates by traded value); the
candidate list of an ambiguous ``/watch`` loses its keyboard once a name is picked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from kstock.bot import failures
from kstock.bot.analysis_flow import MAX_BUTTONS, WATCH_BUTTON
from kstock.bot.buttons import expired
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.messages import signal_buttons
from kstock.bot.runtime import BotRuntime, command_args, runtime_of
from kstock.bot.security import check_query
from kstock.bot.subscriptions import INTERACTIVE_WAIT
from kstock.bot.text import truncate
from kstock.errors import KstockError
from kstock.market.types import InstrumentKind, Ticker
from kstock.service import watchlist
from kstock.service.analyze import AmbiguousTickerError, UnknownTickerError, resolve
from kstock.service.presenters import CALL_ICON, CALL_KO
from kstock.service.scoring import Signal

#: Candidate of an ambiguous /watch (the list's keyboard is removed once tapped).
WATCH_PICK_BUTTON = "wp:"
WATCH_USAGE = "관심종목에 넣을 종목을 함께 입력해 주세요. 예: /watch 삼성전자 (최대 {n}개)"
UNWATCH_USAGE = "지울 관심종목을 함께 입력해 주세요. 예: /unwatch 삼성전자"


def call_line(call: watchlist.WatchedCall) -> str:
    """``🟢 삼성전자(005930) 매수 (BUY) · 상승확률 61%`` — or that it was not scored."""
    if call.label is None:
        return f"• {call.name}({call.code}) · 채점 결과 없음"
    head = f"{CALL_ICON.get(call.label, '•')} {call.name}({call.code}) {CALL_KO.get(call.label, call.label)} " \
           f"({call.label})"
    return f"{head}\n   {call.headline}" if call.headline else head


def watchlist_text(calls: Sequence[watchlist.WatchedCall]) -> str:
    if not calls:
        return "관심종목이 없습니다. /watch 삼성전자 처럼 추가해 보세요."
    dates = {c.date for c in calls if c.date}
    head = f"☆ 관심종목 {len(calls)}/{watchlist.MAX_WATCH}" + (f" · {min(dates)} 장 마감 기준" if dates else "")
    return "\n".join([head, *[call_line(c) for c in calls], "판단이 바뀌면 장 마감 후 한 번에 알려 드립니다."])


def _pick_keyboard(tickers: Sequence[Ticker]) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(truncate(f"{t.name} ({t.code})", 60), callback_data=f"{WATCH_PICK_BUTTON}{t.code}")]
            for t in tickers[:MAX_BUTTONS] if t.kind == InstrumentKind.COMMON]
    return InlineKeyboardMarkup(rows) if rows else None


async def _send(rt: BotRuntime, bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    with contextlib.suppress(ChatUnreachable):
        await rt.delivery.send_text(bot, chat_id, text, reply_markup=markup)


async def _resolve(rt: BotRuntime, bot, chat_id: int, query: str, usage: str) -> Ticker | None:
    """The one ticker ``query`` means, or None after telling the user what to do (candidates as buttons)."""
    if not query:
        await _send(rt, bot, chat_id, usage)
        return None
    too_long = check_query(query)
    if too_long:
        await _send(rt, bot, chat_id, too_long)
        return None
    try:
        return await rt.run_light(resolve, rt.services, query)
    except AmbiguousTickerError as exc:
        await _send(rt, bot, chat_id, f"{exc}\n추가할 종목을 골라 주세요.", _pick_keyboard(exc.candidates))
    except UnknownTickerError as exc:
        await _send(rt, bot, chat_id, str(exc))
    except KstockError as exc:
        await _send(rt, bot, chat_id, str(exc))
    return None


async def add_to_watchlist(rt: BotRuntime, bot, chat_id: int, user_id: int | None, ticker: Ticker) -> str:
    """Add and say so with the stock's current call; the text for a chat reply or a button's answer."""
    if ticker.kind != InstrumentKind.COMMON or ticker.delisting_date:
        return f"{ticker.name}({ticker.code})은(는) 보통주가 아니어서 관심종목 알림을 드릴 수 없습니다."
    try:  # a store held by another writer: "잠시 후 다시" after at most INTERACTIVE_WAIT, never its file name
        new = await rt.run_store(watchlist.add, rt.services.store, chat_id, user_id, ticker, wait=INTERACTIVE_WAIT)
    except KstockError as exc:
        return failures.explain(exc)
    count = len(await asyncio.to_thread(watchlist.codes, rt.services.store, chat_id))
    call = (await asyncio.to_thread(watchlist.latest_calls, rt.services.store, [ticker.code], rt.services))[0]
    head = f"☆ {ticker.name}({ticker.code})을(를) 관심종목에 추가했습니다 ({count}/{watchlist.MAX_WATCH})." if new \
        else f"{ticker.name}({ticker.code})은(는) 이미 관심종목입니다 ({count}/{watchlist.MAX_WATCH})."
    return f"{head}\n{call_line(call)}\n판단이 바뀌면 장 마감 후 알려 드립니다."


async def watch_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, chat, user = runtime_of(context), update.effective_chat, update.effective_user
    ticker = await _resolve(rt, context.bot, chat.id, command_args(update.effective_message),
                            WATCH_USAGE.format(n=watchlist.MAX_WATCH))
    if ticker is not None:
        await _send(rt, context.bot, chat.id, await add_to_watchlist(rt, context.bot, chat.id,
                                                                     user.id if user else None, ticker))


async def unwatch_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, chat = runtime_of(context), update.effective_chat
    ticker = await _resolve(rt, context.bot, chat.id, command_args(update.effective_message), UNWATCH_USAGE)
    if ticker is None:
        return
    try:  # like /watch: at most INTERACTIVE_WAIT for a store another writer holds
        removed = await rt.run_store(watchlist.remove, rt.services.store, chat.id, ticker.code, wait=INTERACTIVE_WAIT)
    except KstockError as exc:
        await _send(rt, context.bot, chat.id, failures.explain(exc))
        return
    text = f"{ticker.name}({ticker.code})을(를) 관심종목에서 지웠습니다." if removed else \
        f"{ticker.name}({ticker.code})은(는) 관심종목이 아닙니다. 목록: /watchlist"
    await _send(rt, context.bot, chat.id, text)


async def watchlist_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, chat = runtime_of(context), update.effective_chat
    codes = await asyncio.to_thread(watchlist.codes, rt.services.store, chat.id)
    calls = await asyncio.to_thread(watchlist.latest_calls, rt.services.store, codes, rt.services)
    stocks = [Signal(c.code, c.name, c.label or "HOLD", c.probability, c.score, 0) for c in calls]
    markup = signal_buttons([s for s in stocks if s.label != "SELL"], [s for s in stocks if s.label == "SELL"])
    await _send(rt, context.bot, chat.id, watchlist_text(calls), markup)


async def watch_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``w:CODE`` (☆ under an analysis) and ``wp:CODE`` (a candidate of /watch: its keyboard goes)."""
    rt, query = runtime_of(context), update.callback_query
    data = query.data or ""
    picked = data.startswith(WATCH_PICK_BUTTON)
    code = data.split(":", 1)[1] if ":" in data else ""
    ticker = await rt.run_light(lambda: rt.services.ticker_index().resolve(code).match) if len(code) == 6 else None
    if ticker is None or query.message is None:
        await expired(query)
        return
    chat_id = query.message.chat.id
    text = await add_to_watchlist(rt, context.bot, chat_id, query.from_user.id, ticker)
    with contextlib.suppress(TelegramError):
        await query.answer(truncate(text.split("\n")[0], 190))
    if picked:  # the candidate list has done its job
        with contextlib.suppress(TelegramError):
            await context.bot.edit_message_reply_markup(chat_id, query.message.message_id, reply_markup=None)
        await _send(rt, context.bot, chat_id, text)


__all__: Sequence[str] = ("WATCH_BUTTON", "WATCH_PICK_BUTTON", "unwatch_command", "watch_button", "watch_command",
                          "watchlist_command")
