"""`/performance`: the live record of the published signals (the ledger), as text and a chart.

The numbers come from :mod:`kstock.service.ledger` (each published BUY signal measured as the backtest
trades it); the work runs off the event loop, the chart follows the text with an "uploading photo" action.
"""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from kstock.bot.analysis_flow import chat_action, within_limit
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.runtime import runtime_of
from kstock.charts.performance import render_performance_chart
from kstock.service.ledger import days_until_first, performance
from kstock.service.performance_view import format_performance


def _record(services) -> tuple[str, bytes | None, str]:
    perf = performance(services)
    text = format_performance(perf, days_until_first(services))
    png = render_performance_chart(perf) if perf.curve else None
    caption = f"매수 바스켓 따라하기 vs 매수 가능 종목 평균 vs KOSPI ({perf.horizon}일 보유, 비용 차감)"
    return text, png, caption


async def performance_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime_of(context)
    chat = update.effective_chat
    if chat is None or await within_limit(rt, context.bot, update) is None:
        return  # shares the user's limit with /analyze and /signals: it reads the whole ledger
    await chat_action(context.bot, chat.id, ChatAction.TYPING)
    text, png, caption = await rt.run_light(_record, rt.services)
    with contextlib.suppress(ChatUnreachable):
        await rt.delivery.send_text(context.bot, chat.id, text)
        if png is not None:
            await chat_action(context.bot, chat.id, ChatAction.UPLOAD_PHOTO)
            await rt.delivery.send_photo(context.bot, chat.id, png, caption)
