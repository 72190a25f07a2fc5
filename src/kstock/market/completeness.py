"""Which stored days are complete market days, and which series lag the prices (DESIGN §2).

Real feeds arrive late and in pieces: a drop folder where a tenth of the files carry the new day, one stray
file a day ahead, an index series weeks behind the prices. A trading day counts only when the names with a
row for it (a trade or a halt row) cover at least ``KSTOCK_MIN_COVERAGE`` of the *active universe*: the
names with a row on the last complete day before it that are not delisted by then. The store's "last
trading day" — what freshness, scoring, the serving window and /analyze read — is the last complete day,
never the largest date of any row, so one stray row can never make every other name "not traded".

:func:`last_complete_day` is on the hot path (every freshness check): it reads only each code's last few
keys and is cached per store until the data changes. :func:`incomplete_days` walks the whole history (a
scan, for `kstock data check`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kstock.market.dates import iso, to_yyyymmdd
from kstock.market.repositories.meta import change_key
from kstock.market.store_reads import (
    delisting_dates,
    index_last_days,
    price_days_between,
    recent_price_keys,
)
from kstock.memo import PerOwner

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

#: The default of ``KSTOCK_MIN_COVERAGE``: a day is complete when 95% of the active universe has a row.
DEFAULT_MIN_COVERAGE = 0.95
#: The index the market features and the chart compare against.
MARKET_INDEX = "KOSPI"
#: Distinct stored days the hot path looks back over: more trailing incomplete days than this is not a feed.
RECENT_DAYS = 12


@dataclass(frozen=True)
class DayCoverage:
    """How much of the active universe a stored day covers."""

    day: str  # ISO
    count: int  # active names with a row that day
    expected: int  # the active universe: names on the last complete day before, not delisted
    missing: tuple[str, ...]  # codes of the active universe without a row (sorted)
    threshold: float

    @property
    def share(self) -> float:
        return self.count / self.expected if self.expected else 1.0

    @property
    def complete(self) -> bool:
        return self.expected == 0 or self.count >= math.ceil(self.threshold * self.expected - 1e-9)

    def describe(self, names: Mapping[str, str] | None = None, show: int = 5) -> str:
        """'10/948종목 (1.1%, 기준 95%) — 빠진 종목: 삼성전자(005930), … 외 933개' (Korean, for people)."""
        text = f"{self.count:,}/{self.expected:,}종목 ({self.share:.1%}, 기준 {self.threshold:.0%})"
        if self.missing:
            names = names or {}
            shown = [f"{names[c]}({c})" if names.get(c) else c for c in self.missing[:show]]
            more = f" 외 {len(self.missing) - show:,}개" if len(self.missing) > show else ""
            text += " — 빠진 종목: " + ", ".join(shown) + more
        return text

    def as_dict(self) -> dict:
        return {"day": self.day, "count": self.count, "expected": self.expected, "share": round(self.share, 4),
                "threshold": self.threshold, "missing": list(self.missing)}


@dataclass(frozen=True)
class SeriesLag:
    """An index series against the prices' last complete day."""

    name: str
    last_date: str | None  # the series' last stored day (ISO)
    prices_last: str | None  # the prices' last complete day (ISO)
    sessions: int  # stored price days after the series' last day, up to the prices' last complete day

    @property
    def lagging(self) -> bool:
        return self.sessions > 0

    def describe(self) -> str:
        """What the market features use, in Korean (the data status, /status and the chart say it)."""
        if not self.lagging:
            return f"시장 수익률: {self.name} 지수 ({self.last_date}까지)"
        text = f"⚠️ {self.name} 지수가 {self.sessions}거래일 늦음 ({self.last_date}까지, 시세는 {self.prices_last})"
        if self.name == MARKET_INDEX:  # the one the market features read (kstock.market.market_series)
            text += " — 그 뒤 시장 수익률은 종목 전체(거래대금 가중)로 계산"
        return text


def min_coverage(store: MarketStore) -> float:
    """The store's coverage threshold: ``KSTOCK_MIN_COVERAGE`` as the services set it, else the default."""
    return float(getattr(store, "min_coverage", DEFAULT_MIN_COVERAGE))


# ---- presence of names on days ----------------------------------------------------------------------------

def _recent_presence(store: MarketStore, days: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(codes, the last ``days`` distinct stored days as yyyymmdd, presence codes × days).

    Each code's last ``days`` keys (one seek each) hold every row it has on the store's last ``days``
    distinct days: a row on such a day has fewer than ``days`` later days of its own.
    """
    return _presence(recent_price_keys(store, days), days)


def _all_presence(store: MarketStore) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every code on every stored day, through the store's fast panel read (a halt row is a row)."""
    panel = store.load_panel(dtype=np.float32)
    present = np.isfinite(panel.close) | panel.halted
    return list(panel.codes), to_yyyymmdd(panel.dates).astype(np.int64), present


def _presence(rows: list[tuple], keep: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    if not rows:
        return [], np.empty(0, dtype=np.int64), np.zeros((0, 0), dtype=bool)
    code_arr = np.array([r[0] for r in rows])
    date_arr = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    days = np.unique(date_arr)[-keep:]
    inside = date_arr >= days[0]
    code_arr, date_arr = code_arr[inside], date_arr[inside]
    codes, ci = np.unique(code_arr, return_inverse=True)
    present = np.zeros((len(codes), len(days)), dtype=bool)
    present[ci, np.searchsorted(days, date_arr)] = True
    return codes.tolist(), days, present


def _delisted_on(store: MarketStore, codes: list[str], days: np.ndarray) -> np.ndarray:
    """(codes × days) whether each code is delisted on or before each day."""
    out = np.zeros((len(codes), len(days)), dtype=bool)
    dates = delisting_dates(store)
    if not dates or not len(days):
        return out
    day_iso = np.array([iso(int(d)) for d in days])
    for i, code in enumerate(codes):
        when = dates.get(code)
        if when:
            out[i] = day_iso >= str(when)[:10]
    return out


def _walk(codes: list[str], days: np.ndarray, present: np.ndarray, delisted: np.ndarray, threshold: float,
          seed: int) -> tuple[int, list[DayCoverage]]:
    """Walk forward from the complete day ``seed``: (index of the last complete day, coverage of each later day)."""
    reference, last, out = present[:, seed], seed, []
    for j in range(seed + 1, len(days)):
        active = reference & ~delisted[:, j]
        covered = present[:, j] & active
        missing = tuple(codes[i] for i in np.flatnonzero(active & ~present[:, j]))
        cov = DayCoverage(iso(int(days[j])), int(covered.sum()), int(active.sum()), missing, threshold)
        out.append(cov)
        if cov.complete:
            reference, last = present[:, j], j
    return last, out


# ---- the store's complete days ----------------------------------------------------------------------------

def _recent(store: MarketStore, threshold: float) -> tuple[int | None, list[DayCoverage]]:
    """(last complete day as yyyymmdd, coverage of the recent days after the seed), cached per store."""
    with store.lock:
        return _BY_STORE.get(store, (*change_key(store), threshold), lambda: _compute_recent(store, threshold))


def _compute_recent(store: MarketStore, threshold: float) -> tuple[int | None, list[DayCoverage]]:
    codes, days, present = _recent_presence(store, RECENT_DAYS)
    if not len(days):
        return None, []
    counts = present.sum(axis=0)
    seed = int(len(counts) - 1 - np.argmax(counts[::-1]))  # the latest of the fullest days
    last, coverage = _walk(codes, days, present, _delisted_on(store, codes, days), threshold, seed)
    return int(days[last]), coverage


def last_complete_day(store: MarketStore, threshold: float | None = None) -> int | None:
    """The store's last trading day (yyyymmdd): its last complete day; None when it holds no prices."""
    return _recent(store, min_coverage(store) if threshold is None else threshold)[0]


def trailing_incomplete(store: MarketStore, threshold: float | None = None) -> list[DayCoverage]:
    """The stored days after the last complete day (a partial drop, a stray row), oldest first."""
    threshold = min_coverage(store) if threshold is None else threshold
    last, coverage = _recent(store, threshold)
    return [c for c in coverage if last is not None and c.day > iso(last)]


def day_coverage(store: MarketStore, day: str | int, threshold: float | None = None) -> DayCoverage | None:
    """The coverage of a stored ``day`` (ISO or yyyymmdd) against the last complete day before it; None when no
    row is dated ``day`` (or it is the store's first day). A recent day is answered from the cached recent
    days; an older one walks the whole history (a scan)."""
    threshold = min_coverage(store) if threshold is None else threshold
    wanted = iso(int(str(day).replace("-", "")))
    recent = next((c for c in _recent(store, threshold)[1] if c.day == wanted), None)
    return recent or next((c for c in _whole_history(store, threshold) if c.day == wanted), None)


def incomplete_days(store: MarketStore, threshold: float | None = None) -> list[DayCoverage]:
    """Every stored day below the threshold, over the whole history (reads every key: for `data check`)."""
    threshold = min_coverage(store) if threshold is None else threshold
    return [c for c in _whole_history(store, threshold) if not c.complete]


def _whole_history(store: MarketStore, threshold: float) -> list[DayCoverage]:
    """The coverage of every stored day after the first, walking forward from the first."""
    codes, days, present = _all_presence(store)
    if len(days) < 2:
        return []
    return _walk(codes, days, present, _delisted_on(store, codes, days), threshold, 0)[1]


def series_lag(store: MarketStore) -> list[SeriesLag]:
    """Each stored index series against the prices' last complete day: how many price sessions it lacks."""
    last = last_complete_day(store)
    out = []
    for name, end in index_last_days(store).items():
        sessions = 0
        if last is not None and end is not None and end < last:
            sessions = price_days_between(store, int(end), last)
        out.append(SeriesLag(name, iso(end) if end else None, iso(last) if last else None, sessions))
    return out



#: store → (last complete day, recent coverage), keyed (last update id, writes through the store, threshold).
_BY_STORE: PerOwner[tuple[int | None, list[DayCoverage]]] = PerOwner()
