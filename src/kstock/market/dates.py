"""Date conversions between the store's ``yyyymmdd`` integers, numpy ``datetime64[D]`` and ISO text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

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


# ---- the one parser of a date a person types ----------------------------------------------------------

#: The two spellings a person may type; anything else (a bare year, 2025/07/10, NaT, '') is refused.
_ISO_TYPED = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_COMPACT_TYPED = re.compile(r"(\d{4})(\d{2})(\d{2})")
#: Typed dates outside these years are typos (the CSV import's bounds too).
TYPED_YEARS = (1950, 2199)
DATE_FORMS = "YYYY-MM-DD 또는 YYYYMMDD (예: 2025-07-10, 20250710)"
TODAY_WORDS = {"오늘": 0, "어제": 1}


class DateInputError(KstockError, ValueError):
    """A typed date that is not one; the message (Korean) says what was typed and which forms are read."""


def parse_typed_date(text: str | None, *, today: Callable[[], dt.date] | None = None,
                     previous: Callable[[dt.date], dt.date] | None = None) -> dt.date:
    """The date a person typed — ``YYYY-MM-DD`` or ``YYYYMMDD`` — or :class:`DateInputError` saying why not.

    Every CLI flag and chat argument goes through here, so an empty string, ``NaT``, a bare year (numpy
    reads '2025' as 2025-01-01 and '20250717' as the year 20250717) or 2025-02-30 is refused, never read
    as "everything" or as some other day. With ``today`` (chat: a function, asked only when 오늘/어제 is typed),
    오늘 is its day and 어제 the day before — ``previous(day)`` when given (the previous trading day), else the
    calendar day before.
    """
    typed = "" if text is None else str(text).strip()
    if not typed:
        raise DateInputError(f"날짜가 비어 있습니다 — {DATE_FORMS}로 적어 주세요.")
    if today is not None and typed in TODAY_WORDS:
        day = today()
        if not TODAY_WORDS[typed]:
            return day
        return previous(day) if previous is not None else day - dt.timedelta(days=1)
    match = _ISO_TYPED.fullmatch(typed) or _COMPACT_TYPED.fullmatch(typed)
    shown = typed if len(typed) <= 20 else typed[:19] + "…"
    if match is None:
        words = " 또는 오늘/어제" if today is not None else ""
        raise DateInputError(f"'{shown}'은(는) 날짜로 읽을 수 없습니다 — {DATE_FORMS}{words}로 적어 주세요.")
    year, month, day = (int(g) for g in match.groups())
    try:
        value = dt.date(year, month, day)
    except ValueError:
        raise DateInputError(f"'{shown}'은(는) 없는 날짜입니다 — {DATE_FORMS}로 적어 주세요.") from None
    if not TYPED_YEARS[0] <= year <= TYPED_YEARS[1]:
        raise DateInputError(f"'{shown}': {TYPED_YEARS[0]}년부터 {TYPED_YEARS[1]}년 사이의 날짜만 받습니다 "
                             f"({DATE_FORMS}).")
    return value


def typed_iso(text: str | None) -> str:
    """:func:`parse_typed_date` as ISO text: what the services take as a day."""
    return parse_typed_date(text).isoformat()
