"""Date conversions between the store's ``yyyymmdd`` integers, numpy ``datetime64[D]`` and ISO text."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from kstock.errors import KstockError


def to_yyyymmdd(days: np.ndarray | pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Vectorised datetime-like → int64 yyyymmdd."""
    d = np.asarray(pd.to_datetime(days)).astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mdays = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return years * 10000 + months * 100 + mdays


def from_yyyymmdd(values: np.ndarray | list[int]) -> np.ndarray:
    """int yyyymmdd → datetime64[D] (vectorised)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return np.empty(0, dtype="datetime64[D]")
    years = (v // 10000 - 1970).astype("datetime64[Y]")
    months = (v // 100 % 100 - 1).astype("timedelta64[M]")
    mdays = (v % 100 - 1).astype("timedelta64[D]")
    return (years + months).astype("datetime64[D]") + mdays


def day_int(day: str | dt.date | np.datetime64) -> int:
    """One date → yyyymmdd; raises ValueError with the offending text when it is not a date."""
    try:
        return int(to_yyyymmdd(np.array([np.datetime64(day, "D")]))[0])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a date: {day!r} (expected YYYY-MM-DD)") from exc


def iso(day: int | np.datetime64 | dt.date) -> str:
    """yyyymmdd / datetime64 / date → 'YYYY-MM-DD'."""
    if isinstance(day, int | np.integer):
        return str(from_yyyymmdd([int(day)])[0])
    return str(np.datetime64(day, "D"))


def utc_stamp() -> str:
    """Now in UTC as ISO text to the second: the one format every stored ``*_at`` column is written in."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def stored_day_index(dates: np.ndarray, date: str, error: type[KstockError] = KstockError) -> int:
    """The index of ``date`` (YYYY-MM-DD) in the sorted trading ``dates``; a Korean ``error`` (the caller's
    kind, so analysis and scoring keep their own) when it cannot be read or is not a stored trading day."""
    try:
        d = np.datetime64(date, "D")
    except ValueError:
        raise error(f"날짜 '{date}'를 읽을 수 없습니다 (YYYY-MM-DD).") from None
    i = int(np.searchsorted(dates, d))
    if i >= len(dates) or dates[i] != d:
        raise error(f"{date}: 저장된 거래일이 아닙니다 (데이터 {dates[0]} ~ {dates[-1]}).")
    return i
