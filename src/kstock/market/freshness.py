"""How old the stored market data is — told the same way by the bot's /status, the CLI and a failed update.

Days are counted in Seoul time (the market's), whatever the server's timezone. Ages are given both in
calendar days (what a person feels) and in trading days (what a model misses): three calendar days
over a weekend is one missed session, not three.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from kstock.market.calendar import TradingCalendar
from kstock.market.completeness import last_complete_day
from kstock.market.dates import iso

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

SEOUL = ZoneInfo("Asia/Seoul")
#: Before this time (KST) today's bar is still moving (closing auction 15:30, after-hours to 16:00).
DAY_FINAL_AT = dt.time(16, 0)

DayLike = str | dt.date | np.datetime64


def seoul_now() -> dt.datetime:
    return dt.datetime.now(SEOUL)


def seoul_today() -> dt.date:
    return seoul_now().date()


def as_date(day: DayLike) -> dt.date:
    """Any date-like value (ISO text, date, datetime64) → ``datetime.date``."""
    return dt.date.fromisoformat(iso(np.datetime64(day, "D")))


def last_final_day(now: dt.datetime | None = None) -> dt.date:
    """Today in Seoul once the day's bar is final, else yesterday: a moving intraday bar is no close."""
    now = (now or seoul_now()).astimezone(SEOUL)
    return now.date() if now.time() >= DAY_FINAL_AT else now.date() - dt.timedelta(days=1)


def last_stored_day(store: MarketStore) -> int | None:
    """The store's last trading day (yyyymmdd): its last *complete* day (:mod:`.completeness`), never the
    largest date of any row — a partial drop or one stray row a day ahead does not move it."""
    return last_complete_day(store)


def data_age(store: MarketStore, today: DayLike | None = None) -> tuple[str | None, int | None]:
    """(last stored trading day as ISO text, calendar days since then); (None, None) when empty."""
    last = last_stored_day(store)
    if last is None:
        return None, None
    last_iso = iso(last)
    today_d = as_date(today) if today is not None else seoul_today()
    return last_iso, (today_d - as_date(last_iso)).days


def describe_age(store: MarketStore, today: DayLike | None = None) -> str:
    """'2025-06-16 기준 (3거래일 / 5일 지남)', or that nothing is stored yet (read by people: Korean).

    Trading days are the KRX sessions after the last stored day up to today (weekends and KRX
    holidays excluded), so today counts once it is a trading day.
    """
    last, days = data_age(store, today)
    if last is None:
        return "저장된 시장 데이터가 아직 없습니다"
    today_d = as_date(today) if today is not None else seoul_today()
    trading = 0
    if days and days > 0:
        trading = TradingCalendar(np.array([last], dtype="datetime64[D]")).trading_days_between(last, today_d)
    return f"{last} 기준 ({trading}거래일 / {days}일 지남)"
