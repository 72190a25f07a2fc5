"""The ``/analyze`` exchange: lookup, the per-user limit, analysis off the loop, text, chart.

Its buttons (callback data, all under Telegram's 64 bytes; answered in :mod:`kstock.bot.buttons`):

- ``a:CODE`` — a candidate of an ambiguous or unknown lookup; the list's keyboard is removed once tapped,
  so an old list cannot be tapped twice;
- ``rf:CODE`` — 새로고침 under an analysis: the message is edited in place with the latest analysis;
- ``c:CODE:YYYYMMDD`` — 차트 under a refreshed analysis (its chart was not sent again); when the data has
  moved past that day the button says so instead of drawing yesterday's picture as today's;
- ``s:CODE[:YYYYMMDD]`` — a stock of /signals or the push; after a newer scoring the reply says the list
  was older before giving the current analysis;
- ``w:CODE`` — ☆ 관심종목 (:mod:`kstock.bot.watch_handlers`).

The user sees "typing…" while the analysis runs and "sending photo…" while the chart is drawn, when either
takes longer than a quarter of a second (:func:`showing`). Texts are sent with HTML formatting: the stock
and the call in bold, the price line in monospace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from kstock.bot import messages
from kstock.bot.delivery import ChatUnreachable
from kstock.bot.runtime import BotRuntime
from kstock.bot.security import check_query, is_admin
from kstock.bot.text import MAX_TEXT, PARSE_MODE, bold, escape, truncate
from kstock.errors import KstockError
from kstock.market.dates import day_int
from kstock.market.types import InstrumentKind, Ticker
from kstock.service.analyze import (
    KIND_KO,
    AmbiguousTickerError,
    Analysis,
    UnknownTickerError,
    analyze,
    resolve,
)
from kstock.service.predict import NoModelError
from kstock.service.presenters import format_analysis, format_chart_caption

log = logging.getLogger(__name__)

ANALYZE_BUTTON = "a:"
REFRESH_BUTTON = "rf:"
CHART_BUTTON = "c:"
WATCH_BUTTON = "w:"
SIGNAL_BUTTON = messages.SIGNAL_BUTTON
MAX_BUTTONS = 8
CODE_DATA = re.compile(r"^[0-9A-Za-z]{6}$")
DATED_DATA = re.compile(r"^(?P<code>[0-9A-Za-z]{6})(?::(?P<day>\d{8}))?$")
#: Lines of the analysis text shown in bold / monospace (see :func:`analysis_html`).
_BOLD_PREFIXES = ("판단:",)
_MONO_PREFIXES = ("종가 ",)
_BACKTICKS = re.compile(r"`([^`<>\n]+)`")


#: Seconds of work before "typing…" / "sending photo…" is shown: a quicker answer needs no indicator (the
#: client clears it as the message arrives), and skipping it saves one Bot API call per answer — with 20
#: users at once those calls competed with the answers for the bot's event loop and connection pool.
ACTION_AFTER_S = 0.25


async def chat_action(bot, chat_id: int, action: str) -> None:
    """Show "typing…" / "sending photo…"; purely cosmetic, so a failure is ignored."""
    with contextlib.suppress(TelegramError):
        await bot.send_chat_action(chat_id, action)


@contextlib.asynccontextmanager
async def showing(bot, chat_id: int, action: str, after: float = ACTION_AFTER_S) -> AsyncIterator[None]:
    """Run the block with ``action`` shown once it has taken ``after`` seconds. An indicator already on its
    way is awaited before the block's result is sent, so it never follows the answer."""
    started = asyncio.Event()

    async def later() -> None:
        await asyncio.sleep(after)
        started.set()
        await chat_action(bot, chat_id, action)

    task = asyncio.create_task(later())
    try:
        yield
    finally:
        if started.is_set():
            await task
        else:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# ---- keyboards -----------------------------------------------------------------------------------------

def _ticker_button(t: Ticker) -> InlineKeyboardButton:
    kind = "" if t.kind == InstrumentKind.COMMON else f" · {KIND_KO.get(t.kind, str(t.kind))}"
    return InlineKeyboardButton(truncate(f"{t.name} ({t.code}){kind}", 60), callback_data=f"{ANALYZE_BUTTON}{t.code}")


def ticker_keyboard(tickers: list[Ticker]) -> InlineKeyboardMarkup | None:
    """The candidates of a lookup, most traded first (the order the lookup gives), one per row."""
    if not tickers:
        return None
    return InlineKeyboardMarkup([[_ticker_button(t)] for t in tickers[:MAX_BUTTONS]])


def analysis_keyboard(result: Analysis, *, chart_sent: bool) -> InlineKeyboardMarkup:
    """새로고침 · 차트 (only when this message's chart was not sent) · ☆ 관심종목."""
    code = result.ticker.code
    row = [InlineKeyboardButton("🔄 새로고침", callback_data=f"{REFRESH_BUTTON}{code}")]
    if not chart_sent:
        row.append(InlineKeyboardButton("📈 차트", callback_data=f"{CHART_BUTTON}{code}:{day_int(result.result.date)}"))
    row.append(InlineKeyboardButton("☆ 관심종목", callback_data=f"{WATCH_BUTTON}{code}"))
    return InlineKeyboardMarkup([row])


def analysis_html(result: Analysis, admin: bool, note: str | None = None) -> str:
    """The analysis text as HTML: the heading and the call in bold, the price line in monospace."""
    lines = []
    for i, line in enumerate(format_analysis(result, admin=admin).split("\n")):
        if i == 0 or line.startswith(_BOLD_PREFIXES):
            lines.append(bold(line))
        elif line.startswith(_MONO_PREFIXES):
            lines.append(f"<code>{escape(line)}</code>")
        else:
            lines.append(escape(line))
    text = _BACKTICKS.sub(r"<code>\1</code>", "\n".join(lines))  # an admin's `kstock train lstm` as code
    return (escape(note) + "\n" + text) if note else text


def _ambiguous_text(exc: AmbiguousTickerError) -> str:
    text = f"{exc}\n아래에서 종목을 골라 주세요 (최근 20일 거래대금 순)."
    hidden = exc.total - min(len(exc.candidates), MAX_BUTTONS)
    if hidden > 0:
        text += f"\n버튼에 없는 {hidden}개는 이름을 더 자세히 입력해 주세요."
    return text


# ---- the exchange --------------------------------------------------------------------------------------

async def _checked(rt: BotRuntime, bot, chat_id: int, query: str) -> bool:
    """Usage and length checks; False (after telling the user) when the query cannot run."""
    if not query:
        await rt.delivery.send_text(bot, chat_id, messages.ANALYZE_USAGE)
        return False
    too_long = check_query(query)
    if too_long:
        await rt.delivery.send_text(bot, chat_id, too_long)
        return False
    return True


def limit_key(chat_id: int, user_id: int | None) -> int:
    """Whose limit a request counts against: the user's, or the chat's when the user is unknown."""
    return user_id if user_id is not None else chat_id


async def within_limit(rt: BotRuntime, bot, update: Update) -> int | None:
    """Reserve one request against the user's limit (the one /analyze has, for /signals and /performance):
    the key to refund when no work ran, or None after telling the user to wait."""
    chat, user = update.effective_chat, update.effective_user
    key = limit_key(chat.id if chat else 0, user.id if user else None)
    wait = rt.limiter.hit(key)
    if wait is None:
        return key
    if chat is not None:
        with contextlib.suppress(ChatUnreachable):
            await rt.delivery.send_text(bot, chat.id, messages.rate_limited(wait, rt.settings.analyze_per_minute))
    return None


#: What a user (not an admin) is told when no model can answer; admins get the reason and the command.
NO_MODEL_KO = "아직 분석할 수 있는 모델이 준비되지 않았습니다. 관리자가 모델을 학습하면 다시 알려 드릴게요."


def error_text(exc: KstockError, admin: bool) -> str:
    """A service error for the chat: as written for people, plus the admin-only hint (shell command) for
    admins; a missing model is explained without developer details to everyone else."""
    if isinstance(exc, NoModelError) and not admin:
        return NO_MODEL_KO
    hint = getattr(exc, "admin_hint", None)
    return f"{exc}\n(관리자) {hint}" if admin and hint else str(exc)


async def _attempt(rt: BotRuntime, fn, *args: Any) -> Any:
    """``fn(services, *args)`` in the request pool; a :class:`KstockError` is returned, not raised."""
    try:
        return await rt.run_light(fn, rt.services, *args)
    except KstockError as exc:
        return exc


async def _refuse(rt: BotRuntime, bot, chat_id: int, exc: KstockError, reply_to: int | None, admin: bool) -> None:
    """Tell the user why there is no analysis: candidates or suggestions as buttons, else the error."""
    if isinstance(exc, AmbiguousTickerError):
        await rt.delivery.send_text(bot, chat_id, _ambiguous_text(exc), reply_to=reply_to,
                                    reply_markup=ticker_keyboard(exc.candidates))
    elif isinstance(exc, UnknownTickerError):
        markup = ticker_keyboard(exc.suggestions)
        text = str(exc) + ("\n아래 버튼을 누르면 바로 분석합니다." if markup else "")
        await rt.delivery.send_text(bot, chat_id, text, reply_to=reply_to, reply_markup=markup)
    else:
        html = _BACKTICKS.sub(r"<code>\1</code>", escape(error_text(exc, admin)))[:MAX_TEXT]
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await rt.delivery.call(chat_id, lambda: bot.send_message(chat_id, html, parse_mode=PARSE_MODE,
                                                                 reply_parameters=reply))


async def _run(rt: BotRuntime, bot, chat_id: int, user_id: int | None, query: str, reply_to: int | None,
               admin: bool = False) -> Analysis | None:
    """The analysis, or None after the lookup, limit or refusal message was sent.

    The lookup runs first and is free: only an analysis that runs counts against the user's limit (one
    request reserved before it, given back when it fails), so a typo or a near miss never uses it up.
    """
    # "typing…" only when the analysis takes a while, and never awaited before it: a round trip first put a
    # whole HTTP exchange on every reply's critical path (with 20 users at once, a large part of the p50)
    async with showing(bot, chat_id, ChatAction.TYPING):
        ticker = await _attempt(rt, resolve, query)
        key, wait = limit_key(chat_id, user_id), None
        if not isinstance(ticker, KstockError):
            wait = rt.limiter.hit(key)
            outcome = None if wait is not None else await _attempt(rt, analyze, ticker.code)
    if isinstance(ticker, KstockError):
        await _refuse(rt, bot, chat_id, ticker, reply_to, admin)
    elif wait is not None:
        await rt.delivery.send_text(bot, chat_id, messages.rate_limited(wait, rt.settings.analyze_per_minute))
    elif isinstance(outcome, KstockError):
        rt.limiter.refund(key)
        await _refuse(rt, bot, chat_id, outcome, reply_to, admin)
    else:
        return outcome
    return None


async def answer_analysis(rt: BotRuntime, bot, chat_id: int, user_id: int | None, query: str,
                          reply_to: int | None = None, *, listed_on: str | None = None) -> Analysis | None:
    """The whole /analyze exchange for one query: checks, analysis off the loop, text with buttons, chart.

    ``listed_on`` is the day of the signal list a button came from: when the analysis is of a later day,
    the reply says so first.
    """
    query = query.strip()
    if not await _checked(rt, bot, chat_id, query):
        return None
    admin = is_admin(rt.settings, user_id)
    rt.text_first.begin()  # this answer's text goes out before anyone's chart (see TextFirst)
    try:
        result = await _run(rt, bot, chat_id, user_id, query, reply_to, admin)
        if result is None:
            return None
        note = None
        if listed_on and listed_on != result.result.date:
            note = f"ℹ️ 누르신 신호 목록은 {listed_on} 기준입니다. 아래는 최신({result.result.date}) 분석입니다."
        html = analysis_html(result, admin, note)[:MAX_TEXT]
        markup = analysis_keyboard(result, chart_sent=True)
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await rt.delivery.call(chat_id, lambda: bot.send_message(chat_id, html, parse_mode=PARSE_MODE,
                                                                 reply_markup=markup, reply_parameters=reply))
    finally:
        rt.text_first.end()
    await rt.text_first.wait()
    await send_chart(rt, bot, chat_id, result)
    return result


async def send_chart(rt: BotRuntime, bot, chat_id: int, result: Analysis) -> None:
    caption = format_chart_caption(result)
    file_id = rt.charts.file_id(result)
    if file_id is not None:
        try:
            await rt.delivery.send_photo(bot, chat_id, file_id, caption)
            return
        except BadRequest:  # the stored id went stale: upload again
            pass
    try:
        async with showing(bot, chat_id, ChatAction.UPLOAD_PHOTO):
            png = await rt.charts.png(result)
    except Exception:
        log.exception("drawing the chart for %s failed", result.ticker.code)
        await rt.delivery.send_text(bot, chat_id, "차트를 그리지 못했습니다. 분석 결과는 위 내용을 참고해 주세요.")
        return
    sent = await rt.delivery.send_photo(bot, chat_id, png, caption)
    if sent.photo:
        rt.charts.remember_file_id(result, sent.photo[-1].file_id)
