"""The buttons under an analysis and a signal list (``a:``, ``s:``, ``rf:``, ``c:``; see
:mod:`kstock.bot.analysis_flow` for what each does), and the rule every button follows: it is answered — a
press whose data this bot cannot use (garbage, cut, forged, a date it never wrote) as an expired button.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from kstock.bot import messages
from kstock.bot.analysis_flow import (
    ANALYZE_BUTTON,
    CHART_BUTTON,
    CODE_DATA,
    DATED_DATA,
    REFRESH_BUTTON,
    SIGNAL_BUTTON,
    analysis_html,
    analysis_keyboard,
    answer_analysis,
    error_text,
    send_chart,
)
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.runtime import runtime_of
from kstock.bot.security import is_admin
from kstock.bot.text import MAX_TEXT, PARSE_MODE, truncate
from kstock.errors import KstockError
from kstock.service.analyze import analyze


async def _answer(query, text: str | None = None, alert: bool = False) -> None:
    with contextlib.suppress(TelegramError):
        await query.answer(text, show_alert=alert)


#: The years a button's date may name: anything else was not written by this bot (``c:005930:99999999``).
BUTTON_YEARS = range(1990, 2101)


def button_day(text: str | None) -> str | None:
    """A button's ``YYYYMMDD`` as ``YYYY-MM-DD``; None when it is not a real date within :data:`BUTTON_YEARS`
    (the button is then answered as expired, never echoed as "10007-06-07 기준")."""
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return day.isoformat() if day.year in BUTTON_YEARS else None


async def expired(query) -> None:
    """Answer a button this bot cannot use (malformed, forged, an old keyboard): the client stops spinning
    and the user reads why nothing happens."""
    await _answer(query, messages.BUTTON_EXPIRED)


async def pick_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``a:CODE``: a candidate was chosen — remove the list's keyboard, then analyse."""
    rt, query = runtime_of(context), update.callback_query
    code = (query.data or "")[len(ANALYZE_BUTTON):]
    if not CODE_DATA.match(code) or query.message is None:
        await expired(query)
        return
    await _answer(query)
    chat_id = query.message.chat.id
    with contextlib.suppress(TelegramError):
        await context.bot.edit_message_reply_markup(chat_id, query.message.message_id, reply_markup=None)
    with contextlib.suppress(ChatUnreachable):
        await answer_analysis(rt, context.bot, chat_id, query.from_user.id, code)


async def signal_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``s:CODE[:YYYYMMDD]``: a stock of a signal list — its analysis, noting when the list is older."""
    rt, query = runtime_of(context), update.callback_query
    match = DATED_DATA.match((query.data or "")[len(SIGNAL_BUTTON):])
    listed_on = button_day(match["day"]) if match is not None and match["day"] else None
    if match is None or query.message is None or (match["day"] and listed_on is None):
        await expired(query)
        return
    await _answer(query)
    with contextlib.suppress(ChatUnreachable):
        await answer_analysis(rt, context.bot, query.message.chat.id, query.from_user.id, match["code"],
                              listed_on=listed_on)


async def refresh_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``rf:CODE``: the analysis message is replaced by the latest analysis (its chart is one tap away).
    Counts against the user's limit only when the message changed (an unchanged one is no new answer)."""
    rt, query = runtime_of(context), update.callback_query
    code = (query.data or "")[len(REFRESH_BUTTON):]
    if not CODE_DATA.match(code) or query.message is None:
        await expired(query)
        return
    user_id = query.from_user.id
    wait = rt.limiter.hit(user_id)
    if wait is not None:
        await _answer(query, messages.rate_limited(wait, rt.settings.analyze_per_minute), alert=True)
        return
    try:
        result = await rt.run_light(analyze, rt.services, code)
    except KstockError as exc:
        rt.limiter.refund(user_id)
        await _answer(query, truncate(error_text(exc, is_admin(rt.settings, query.from_user.id)), 190), alert=True)
        return
    chat_id, message_id = query.message.chat.id, query.message.message_id
    html = analysis_html(result, is_admin(rt.settings, user_id))[:MAX_TEXT]
    markup = analysis_keyboard(result, chart_sent=False)
    try:
        await rt.delivery.call(chat_id, lambda: context.bot.edit_message_text(
            html, chat_id=chat_id, message_id=message_id, parse_mode=PARSE_MODE, reply_markup=markup))
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
        rt.limiter.refund(user_id)
        await _answer(query, f"이미 최신 분석입니다 ({result.result.date} 기준).")
        return
    except ChatUnreachable:
        return
    await _answer(query, f"{result.result.date} 기준으로 새로 고쳤습니다.")


async def chart_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``c:CODE:YYYYMMDD``: the chart of that analysis — unless the data has moved on since."""
    rt, query = runtime_of(context), update.callback_query
    match = DATED_DATA.match((query.data or "")[len(CHART_BUTTON):])
    shown_day = button_day(match["day"]) if match is not None else None
    if shown_day is None or query.message is None:
        await expired(query)
        return
    try:
        result = await rt.run_light(analyze, rt.services, match["code"])
    except KstockError as exc:
        await _answer(query, truncate(error_text(exc, is_admin(rt.settings, query.from_user.id)), 190), alert=True)
        return
    if shown_day > result.result.date:  # a day this bot never analysed: not a button it wrote
        await expired(query)
        return
    if result.result.date != shown_day:
        await _answer(query, f"이 버튼은 {shown_day} 기준이라 지난 정보입니다. 🔄 새로고침을 눌러 "
                             f"최신({result.result.date}) 분석을 받아 보세요.", alert=True)
        return
    await _answer(query)
    with contextlib.suppress(ChatUnreachable):
        await send_chart(rt, context.bot, query.message.chat.id, result)
