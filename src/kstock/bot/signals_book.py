"""What ``/signals`` and the admin's ``/score`` show: the day a person typed, and the stored book of a day as
text — the published book, whole, as the push and the ledger read it."""

from __future__ import annotations

import asyncio
import datetime as dt

from kstock.bot.runtime import BotRuntime
from kstock.market.calendar import TradingCalendar
from kstock.market.dates import parse_typed_date
from kstock.service.daily import signals_warning
from kstock.service.presenters import format_signals
from kstock.service.scoring import book_notes, latest_book


def asked_day(rt: BotRuntime, typed: str) -> str | None:
    """The day typed after /signals (YYYY-MM-DD, YYYYMMDD, 오늘, 어제) as ISO text; None when nothing was typed.
    오늘 is the source's trading day, 어제 the session before it (the store asked only for those words)."""
    if not typed:
        return None

    def previous(day: dt.date) -> dt.date:
        return TradingCalendar.from_store(rt.services.store).previous_trading_day(day).astype(dt.date)

    return parse_typed_date(typed, today=rt.services.today, previous=previous).isoformat()


async def book_text(rt: BotRuntime, date: str | None = None) -> tuple[str, str, list, list]:
    """(day, text, holdings, SELL warnings) of the stored book of ``date`` (default the last scored day): the
    published book, whole — what /signals, the push and the ledger share."""
    day, book = await asyncio.to_thread(latest_book, rt.services, date)
    buys, sells = book["BUY"], book["SELL"][:5]
    warning = await asyncio.to_thread(signals_warning, rt.services, day)
    notes = await asyncio.to_thread(book_notes, rt.services, day)
    text = format_signals(day, buys, sells, warning, book_size=rt.settings.top_k,
                          horizon=rt.settings.label_horizon, exits=book["EXIT"], notes=notes)
    return day, text, buys, sells
