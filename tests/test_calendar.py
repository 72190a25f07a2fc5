"""Trading calendar: stored days are the truth; past the data, weekdays minus KRX holidays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kstock.market.calendar import TradingCalendar, is_krx_holiday
from kstock.market.dates import day_int, from_yyyymmdd, iso, to_yyyymmdd
from kstock.market.store import MarketStore
from kstock.market.types import MarketData, Ticker
from support.stores import price_frame

# 2024-01-02 .. 2024-01-12 minus 2024-01-05 (pretend the exchange was shut: the store says so)
STORED = [d for d in pd.bdate_range("2024-01-02", "2024-01-12") if d != pd.Timestamp("2024-01-05")]
D = np.datetime64


@pytest.fixture(scope="module")
def cal(tmp_path_factory: pytest.TempPathFactory) -> TradingCalendar:
    path = tmp_path_factory.mktemp("cal") / "s.db"
    prices = price_frame("005930", "2024-01-02", 9)
    prices = prices[prices["date"] != pd.Timestamp("2024-01-05")]
    index = pd.DataFrame({"date": [pd.Timestamp("2024-01-12")], "close": [2525.05]})
    with MarketStore(path) as store:
        store.ingest(MarketData([Ticker("005930", "삼성전자", "KOSPI")], prices, {"KOSPI": index}), source="t")
        return TradingCalendar.from_store(store)


def test_stored_days_decide_inside_the_data(cal: TradingCalendar) -> None:
    assert cal.last_stored == D("2024-01-12")
    assert [str(d) for d in cal.days] == [str(d.date()) for d in STORED]
    assert cal.is_trading_day("2024-01-04")
    assert not cal.is_trading_day("2024-01-05")  # a weekday the store did not trade
    assert not cal.is_trading_day(dt.date(2024, 1, 6))  # Saturday
    assert cal.next_trading_day("2024-01-04") == D("2024-01-08")
    assert cal.previous_trading_day(D("2024-01-08")) == D("2024-01-04")
    assert cal.next_trading_day("2024-01-02") == D("2024-01-03")
    between = cal.trading_days_between("2024-01-02", "2024-01-09")  # 03, 04, 08, 09
    assert between == 4 and type(between) is int
    assert cal.trading_days_between("2024-01-09", "2024-01-09") == 0


def test_past_the_data_weekends_and_krx_holidays_are_closed(cal: TradingCalendar) -> None:
    assert cal.is_trading_day("2024-01-15")  # Monday after the last stored day
    assert not cal.is_trading_day("2026-02-17")  # 설날
    assert not cal.is_trading_day("2026-09-25")  # 추석
    assert not cal.is_trading_day("2026-12-31")  # year-end closing day
    assert not cal.is_trading_day("2026-03-07")  # Saturday
    assert cal.is_trading_day("2026-03-09")
    assert cal.next_trading_day("2026-02-13") == D("2026-02-19")  # Fri → Thu after 설날 (16–18 Feb)
    assert cal.previous_trading_day("2027-01-04") == D("2026-12-30")
    assert cal.next_trading_day("2024-01-12") == D("2024-01-15")  # crossing the end of the data


def test_krx_holiday_list() -> None:
    for day in ("2026-02-16", "2026-02-17", "2026-02-18", "2026-09-24", "2026-09-25", "2026-12-31", "2025-01-01"):
        assert is_krx_holiday(day), day
    for day in ("2026-02-19", "2026-03-09", "2026-12-30"):
        assert not is_krx_holiday(day), day


def test_empty_calendar_uses_the_rule() -> None:
    cal = TradingCalendar(np.array([], dtype="datetime64[D]"))
    assert cal.last_stored is None
    assert cal.is_trading_day("2026-03-09") and not cal.is_trading_day("2026-02-17")


def test_date_conversions_round_trip() -> None:
    days = np.array(["1995-05-02", "2000-02-29", "2024-01-02", "2026-12-31"], dtype="datetime64[D]")
    ints = to_yyyymmdd(days)
    assert ints.tolist() == [19950502, 20000229, 20240102, 20261231]
    np.testing.assert_array_equal(from_yyyymmdd(ints), days)
    assert len(from_yyyymmdd([])) == 0
    assert day_int("2024-01-02") == 20240102
    assert iso(20240102) == "2024-01-02" and iso(np.datetime64("2024-01-02")) == "2024-01-02"
    with pytest.raises(ValueError, match="not a date"):
        day_int("yesterday")


def test_store_trading_days_union_prices_and_index(tmp_path: Path) -> None:
    with MarketStore(tmp_path / "s.db") as store:
        index = pd.DataFrame({"date": ["2023-12-28"], "close": [2655.28]})
        store.ingest(MarketData([], price_frame("005930", "2024-01-02", 2), {"KOSPI": index}), source="t")
        cal = TradingCalendar.from_store(store)
    assert [str(d) for d in cal.days] == ["2023-12-28", "2024-01-02", "2024-01-03"]
    assert not cal.is_trading_day("2023-12-29")  # inside the data and not stored (the real 2023 year-end)
