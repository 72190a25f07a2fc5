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

from kstock.market.repositories.meta import change_key
from kstock.memo import PerOwner

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
        """The store's calendar, cached per store until its data may have changed (a logged update, or any
        write on this connection): reading the days scans the prices table, and /analyze asks twice."""
        with store.lock:
            return _BY_STORE.get(store, change_key(store), lambda: cls(_complete_days(store)))

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
        """How many trading days lie in (start, end] — the age of data in trading days.

        Stored days are counted with two binary searches; only the days outside the data go one by one.
        """
        s, e = _day(start), _day(end)
        if e <= s:
            return 0
        if not len(self.days):
            return self._by_rule(s, e)
        first, last = self.days[0], self.days[-1]
        count = self._by_rule(s, min(e, first - 1)) + self._by_rule(max(s, last), e)
        lo, hi = max(s, first - 1), min(e, last)
        if lo < hi:
            count += int(np.searchsorted(self.days, hi, side="right") - np.searchsorted(self.days, lo, side="right"))
        return int(count)  # a plain int, not np.int64 (JSON, isinstance checks)

    @staticmethod
    def _by_rule(start: np.datetime64, end: np.datetime64) -> int:
        """Weekdays that are not KRX holidays in (start, end] (the rule past the stored days)."""
        if end <= start:
            return 0
        first, last = (start + 1).astype(dt.date), end.astype(dt.date)
        holidays = sorted(d for year in range(first.year, last.year + 1) for d in _krx_holidays(year))
        return int(np.busday_count(start + 1, end + 1, holidays=np.array(holidays, dtype="datetime64[D]")))


def _complete_days(store: MarketStore) -> np.ndarray:
    """The stored days up to the last complete one: rows of a partial or stray day ahead are no session."""
    from kstock.market.completeness import last_complete_day
    from kstock.market.dates import from_yyyymmdd

    days, last = store.trading_days(), last_complete_day(store)
    return days if last is None else days[days <= from_yyyymmdd([last])[0]]


#: store → its calendar, keyed (last update id, writes through the store): see TradingCalendar.from_store.
_BY_STORE: PerOwner[TradingCalendar] = PerOwner()
