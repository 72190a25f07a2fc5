"""`/performance`: the live record of the published signals (the ledger), as text and a chart.

The numbers come from :mod:`kstock.service.ledger` (each published BUY signal measured as the backtest
trades it); the work runs off the event loop, the chart follows the text with an "uploading photo" action.
"""

from __future__ import annotations

import contextlib

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from kstock.bot.analysis_flow import ANALYZE_BUTTON, chat_action, within_limit
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.runtime import runtime_of
from kstock.bot.text import truncate
from kstock.charts.performance import render_performance_chart
from kstock.service.ledger import days_until_first, performance
from kstock.service.performance_view import format_performance

#: Buttons per row under the record: one per name of the last baskets, each opening its analysis.
BUTTONS_PER_ROW = 2


def _record(services) -> tuple[str, bytes | None, str, InlineKeyboardMarkup | None]:
    perf = performance(services)
    text = format_performance(perf, days_until_first(services))
    png = render_performance_chart(perf) if perf.curve else None
    caption = f"매수 바스켓 따라하기 vs 매수 가능 종목 평균 vs KOSPI ({perf.horizon}일 보유, 비용 차감)"
    return text, png, caption, analysis_buttons(perf.latest)


def analysis_buttons(latest: list[dict]) -> InlineKeyboardMarkup | None:
    """A button per name of the last baskets (each name once), the /analyze pick's callback format."""
    seen: dict[str, str] = {}
    for row in latest:
        seen.setdefault(row["code"], row["name"])
    buttons = [InlineKeyboardButton(truncate(f"🔍 {name}", 30), callback_data=f"{ANALYZE_BUTTON}{code}")
               for code, name in seen.items()]
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i:i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)])


async def performance_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    chat = update.effective_chat
    if chat is None or await within_limit(rt, context.bot, update) is None:
        return  # shares the user's limit with /analyze and /signals: it reads the whole ledger
    await chat_action(context.bot, chat.id, ChatAction.TYPING)
    text, png, caption, keyboard = await rt.run_light(_record, rt.services)
    with contextlib.suppress(ChatUnreachable):
        await rt.delivery.send_text(context.bot, chat.id, text, reply_markup=keyboard)
        if png is not None:
            await chat_action(context.bot, chat.id, ChatAction.UPLOAD_PHOTO)
            await rt.delivery.send_photo(context.bot, chat.id, png, caption)
