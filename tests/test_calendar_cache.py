"""The store's trading calendar is read once per data version (the days query scans the prices table and
/analyze needs the calendar on every request), and counting trading days is exact without walking them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kstock.market.calendar import TradingCalendar
from kstock.market.store import MarketStore
from support.stores import price_frame


def naive_between(cal: TradingCalendar, start: np.datetime64, end: np.datetime64) -> int:
    count, d = 0, start
    while d < end:
        d = cal.next_trading_day(d)
        count += int(d <= end)
    return count


def test_trading_days_between_matches_walking_day_by_day() -> None:
    rng = np.random.default_rng(0)
    span = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-12-31"))
    weekdays = span[np.is_busday(span)]
    cal = TradingCalendar(weekdays[rng.random(len(weekdays)) > 0.05])  # some stored weekdays missing (halts)
    for _ in range(1500):  # ranges before, inside, across and after the stored days, and empty ones
        start = np.datetime64("2023-10-01") + int(rng.integers(0, 600))
        end = start + int(rng.integers(-5, 200))
        assert cal.trading_days_between(start, end) == naive_between(cal, start, end), (start, end)
    empty = TradingCalendar(np.array([], dtype="datetime64[D]"))
    # (10-01, 10-13]: 10-02, 10-10, 10-13 — 10-03 and 10-06…10-09 are holidays (개천절, 추석, 한글날)
    assert empty.trading_days_between("2025-10-01", "2025-10-13") == 3


def test_from_store_is_cached_until_the_data_changes(tmp_path: Path) -> None:
    with MarketStore(tmp_path / "s.db") as store:
        store.upsert_prices(price_frame("005930", "2025-01-02", 5))
        first = TradingCalendar.from_store(store)
        assert TradingCalendar.from_store(store) is first  # no second scan of the prices table
        store.upsert_prices(price_frame("005930", "2025-01-09", 3))  # a write on this connection
        second = TradingCalendar.from_store(store)
        assert second is not first and len(second.days) == len(first.days) + 3
        store.log_update("test", 0, "ok")  # what another process's `kstock data update` leaves
        assert TradingCalendar.from_store(store) is not second
