"""KRX trading calendar: stored days are the truth; past the data, weekdays minus KRX holidays.

The stored prices/index say exactly which days traded. For days after the last stored day (today,
before the evening update) the exchange's holiday list from the ``holidays`` package decides, so the
scheduled jobs skip weekends and holidays even when the data has not caught up yet.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

DayLike = str | dt.date | np.datetime64


def _day(value: DayLike) -> np.datetime64:
    return np.datetime64(value, "D")


@lru_cache(maxsize=64)
def _krx_holidays(year: int) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.financial_holidays("XKRX", years=year))


def is_krx_holiday(day: DayLike) -> bool:
    """True on a KRX market holiday (Seollal, Chuseok, elections, 12-31, …)."""
    d = _day(day).astype(dt.date)
    return d in _krx_holidays(d.year)


class TradingCalendar:
    """Trading days from the store (``days``), extended past the data by the KRX holiday rule."""

    def __init__(self, days: np.ndarray) -> None:
        self.days = np.unique(np.asarray(days, dtype="datetime64[D]"))

    @classmethod
    def from_store(cls, store: MarketStore) -> TradingCalendar:
        return cls(store.trading_days())

    @property
    def last_stored(self) -> np.datetime64 | None:
        return self.days[-1] if len(self.days) else None

    def is_trading_day(self, day: DayLike) -> bool:
        d = _day(day)
        if len(self.days) and self.days[0] <= d <= self.days[-1]:
            i = int(np.searchsorted(self.days, d))
            return bool(self.days[i] == d)
        return bool(np.is_busday(d)) and not is_krx_holiday(d)

    def next_trading_day(self, day: DayLike) -> np.datetime64:
        """The first trading day strictly after ``day``."""
        d = _day(day) + 1
        while not self.is_trading_day(d):
            d += 1
        return d

    def previous_trading_day(self, day: DayLike) -> np.datetime64:
        """The last trading day strictly before ``day``."""
        d = _day(day) - 1
        while not self.is_trading_day(d):
            d -= 1
        return d

    def trading_days_between(self, start: DayLike, end: DayLike) -> int:
        """How many trading days lie in (start, end] — the age of data in trading days."""
        count, d = 0, _day(start)
        while d < _day(end):
            d = self.next_trading_day(d)
            count += int(d <= _day(end))  # a plain int, not np.int64 (JSON, isinstance checks)
        return count
