"""What a sane daily price row is — the one rule every entry (CSV import, the csv drop folder, pykrx, the
synthetic market) and `kstock data check` apply, so a row priced 1e20 never reaches the store.

A row is sane when its date is a KRX trading day (no weekend, no KRX holiday: the calendar's rule), its
prices are finite, positive and at most :data:`MAX_PRICE`, its volume is finite, ≥ 0 and below
:data:`MAX_VOLUME`, and low ≤ open ≤ high, low ≤ close ≤ high (the close within :data:`CLOSE_TOLERANCE`).
A KRX halt row — open = high = low = 0 and volume 0 with the close carried forward (DESIGN §2) — is sane
when its close is.

Each rule is a vectorised mask, so checking the whole stored market (millions of rows) costs a few numpy
passes; only the rows that fail get a Korean reason, the first failing rule's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kstock.errors import KstockError
from kstock.market.calendar import TradingCalendar, is_krx_holiday

#: The highest price a share can have here (1억 원). The dearest KRX shares trade near 2–3백만 원; even a
#: back-adjusted history through a 10:1 reverse split stays far below this, while 1e20 does not.
MAX_PRICE = 1e8
_MAX_PRICE_TEXT = "1억 원"
#: Daily volume must stay below this (1조 주): the largest KRX issuer has about 6e9 shares outstanding.
MAX_VOLUME = 1e12
#: Back-adjusted files adjust the close on its own: real KRX files show a close up to 0.5% above the day's
#: high (kospi_2020_2026: 2,546 rows in 188 files, market_2023_2025: 85; none beyond 0.5%), while low ≤ open ≤
#: high and low ≤ high hold exactly in every real row. So the close may stray this far outside [low, high];
#: everything else is exact.
CLOSE_TOLERANCE = 0.01

#: KRX held Saturday sessions until this day (the real KOSPI/KOSDAQ index files have them from 1995 on).
LAST_SATURDAY_SESSION = np.datetime64("1998-12-05")
_WEEKDAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_RULE_CALENDAR = TradingCalendar(np.empty(0, dtype="datetime64[D]"))  # no stored days: the KRX rule alone


@dataclass(frozen=True)
class RowColumns:
    """The columns of a batch of rows as float arrays (dates as datetime64[D]); halt rows as the source writes
    them (open = high = low = 0, volume 0)."""

    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> RowColumns:
        """The columns of a long price frame (code, date, open, high, low, close, volume)."""
        dates = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
        return cls(dates, *(np.asarray(frame[c], dtype=float) for c in ("open", "high", "low", "close", "volume")))


@dataclass(frozen=True)
class BadRows:
    """The positions of the rows that break the rule (ascending) and each one's reason (Korean)."""

    positions: np.ndarray
    reasons: list[str]

    def __len__(self) -> int:
        return len(self.reasons)

    def first(self) -> tuple[int, str] | None:
        return (int(self.positions[0]), self.reasons[0]) if len(self) else None


def find_bad_rows(rows: RowColumns) -> BadRows:
    """Every row that breaks the rule, with the reason of the first rule it breaks."""
    reason_of: dict[int, str] = {}
    for mask, explain in _rules(rows):
        for i in np.flatnonzero(mask):
            reason_of.setdefault(int(i), explain(int(i)))
    positions = np.array(sorted(reason_of), dtype=np.int64)
    return BadRows(positions, [reason_of[int(i)] for i in positions])


def bad_row_mask(rows: RowColumns) -> np.ndarray:
    """True for every row that breaks the rule (no reasons: for filtering big batches)."""
    out = np.zeros(len(rows.close), dtype=bool)
    for mask, _ in _rules(rows):
        out |= mask
    return out


def not_trading_days(dates: np.ndarray) -> np.ndarray:
    """True for each date that is no KRX session (a weekend or a KRX holiday), by the calendar's rule."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    unique, inverse = np.unique(dates, return_inverse=True)
    closed = np.array([not np.isnat(d) and not _RULE_CALENDAR.is_trading_day(d) and not _saturday_session(d)
                       for d in unique], dtype=bool)
    return closed[inverse.reshape(-1)] if len(dates) else np.zeros(0, dtype=bool)


def _saturday_session(day: np.datetime64) -> bool:
    saturday = int((day.astype("datetime64[D]").astype(np.int64) + 3) % 7) == 5
    return saturday and day <= LAST_SATURDAY_SESSION and not is_krx_holiday(day)


def index_columns(dates: np.ndarray, close: np.ndarray) -> RowColumns:
    """An index series (date, close) as rows for the same rule: its day must be a session and its level a
    price; its open/high/low may be missing, so only the close is checked."""
    close = np.asarray(close, dtype=float)
    return RowColumns(np.asarray(dates, dtype="datetime64[D]"), close, close, close, close, np.zeros(len(close)))


def why_not_a_trading_day(day: np.datetime64) -> str:
    """'2025-07-12은(는) 토요일입니다' / '… KRX 휴장일입니다': what a person reads next to the rejected row."""
    weekday = int((np.datetime64(day, "D").astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
    what = _WEEKDAYS[weekday] if weekday >= 5 else "KRX 휴장일"
    return f"{day}은(는) {what}입니다 — KRX 거래일이 아닙니다"


Rule = tuple[np.ndarray, Callable[[int], str]]


def _rules(r: RowColumns) -> list[Rule]:
    """(mask, reason of row i) for each rule, in the order a person fixes them."""
    halt = (r.open == 0) & (r.high == 0) & (r.low == 0) & (r.volume == 0)
    with np.errstate(invalid="ignore", over="ignore"):
        rules: list[Rule] = [(not_trading_days(r.dates), lambda i: why_not_a_trading_day(r.dates[i]))]
        rules.append(_price_rule(r.close, "종가", np.ones_like(halt, dtype=bool)))
        rules += [_price_rule(values, name, ~halt) for values, name in ((r.open, "시가"), (r.high, "고가"),
                                                                          (r.low, "저가"))]
        bad_volume = ~np.isfinite(r.volume) | (r.volume < 0) | (r.volume >= MAX_VOLUME)
        rules.append((bad_volume, lambda i: f"거래량 {r.volume[i]:g}은(는) 0 이상 {MAX_VOLUME:g} 미만이어야 합니다"))
        up, down = 1 + CLOSE_TOLERANCE, 1 - CLOSE_TOLERANCE
        rules += [
            (~halt & (r.high < r.low), lambda i: f"고가 {r.high[i]:g}이(가) 저가 {r.low[i]:g}보다 낮습니다"),
            (~halt & (r.open > r.high), lambda i: f"시가 {r.open[i]:g}이(가) 고가 {r.high[i]:g}보다 높습니다"),
            (~halt & (r.open < r.low), lambda i: f"시가 {r.open[i]:g}이(가) 저가 {r.low[i]:g}보다 낮습니다"),
            (~halt & (r.close > r.high * up), lambda i: f"종가 {r.close[i]:g}이(가) 고가 {r.high[i]:g}보다 높습니다"),
            (~halt & (r.close < r.low * down), lambda i: f"종가 {r.close[i]:g}이(가) 저가 {r.low[i]:g}보다 낮습니다"),
        ]
    return rules


def _price_rule(values: np.ndarray, name: str, applies: np.ndarray) -> Rule:
    bad = applies & (~np.isfinite(values) | (values <= 0) | (values > MAX_PRICE))
    return bad, lambda i: f"{name} {values[i]:g}원은(는) 가격이 아닙니다 (0원 초과 {_MAX_PRICE_TEXT} 이하여야 합니다)"


def split_bad_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, BadRows]:
    """(the sane rows, the bad rows, their reasons) of a long price frame: for a source that skips what it
    cannot trust and says so (pykrx), rather than rejecting the whole batch."""
    bad = find_bad_rows(RowColumns.of(frame))
    if not len(bad):
        return frame, frame.iloc[:0], bad
    keep = np.ones(len(frame), dtype=bool)
    keep[bad.positions] = False
    return frame.loc[keep].reset_index(drop=True), frame.iloc[bad.positions], bad


def require_sane(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """``frame`` unchanged when every row is sane; else :class:`BadRowsError` naming the first bad row.

    For a source that generates its rows (the synthetic market): a bad row is a bug there, never data to store.
    """
    if frame.empty or not bad_row_mask(RowColumns.of(frame)).any():
        return frame
    bad = find_bad_rows(RowColumns.of(frame))
    pos, reason = bad.first()
    row = frame.iloc[pos]
    raise BadRowsError(f"{source}: {row['code']} {pd.Timestamp(row['date']).date()}: {reason} "
                       f"(잘못된 행 {len(bad)}개) — 저장하지 않았습니다")


class BadRowsError(KstockError, ValueError):
    """A batch that must be stored whole holds rows that break the rule; nothing was stored."""
