"""`kstock data check`: what in the store breaks the market's rules, as a list of checks.

Each check is one function ``store → CheckSection`` in :data:`CHECKS`. The first one lists every stored price
row that breaks the row rule of :mod:`kstock.market.row_checks` (the rule every entry applies, so only a
store filled before it, or written around it, holds such rows). The completeness checks list every stored
day below the coverage threshold and every index series that lags the prices' last complete day
(:mod:`kstock.market.completeness`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kstock.market.completeness import incomplete_days, series_lag
from kstock.market.dates import from_yyyymmdd
from kstock.market.repositories import tickers
from kstock.market.row_checks import RowColumns, bad_row_mask, find_bad_rows, index_columns
from kstock.market.store_reads import index_closes, price_row_batch

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

#: Codes read at a time: the whole market's rows are never held at once.
CODES_PER_BATCH = 300


@dataclass(frozen=True)
class Finding:
    """One thing found: the line a person reads (Korean) and the same as JSON fields (English keys)."""

    line: str
    data: dict


@dataclass
class CheckSection:
    """One check's result: ``key`` for JSON, ``title`` (Korean) for people, and what it found."""

    key: str
    title: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.findings)

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "count": self.count,
                "findings": [f.data for f in self.findings]}


Check = Callable[["MarketStore"], CheckSection]


def bad_rows_section(store: MarketStore) -> CheckSection:
    """Every stored price and index row that breaks the row rule, with its reason (an index row is named by
    its series, KOSPI / KOSDAQ, where a price row has its code)."""
    section = CheckSection("bad_rows", "잘못된 가격 행")
    for codes, rows in itertools.chain(_stored_rows(store), _stored_index_rows(store)):
        bad = find_bad_rows(rows)
        for pos, reason in zip(bad.positions.tolist(), bad.reasons, strict=True):
            day = str(rows.dates[pos])
            section.findings.append(Finding(f"{codes[pos]} {day}: {reason}",
                                            {"code": str(codes[pos]), "date": day, "reason": reason}))
    return section


def incomplete_days_section(store: MarketStore) -> CheckSection:
    """Every stored day whose rows cover less than the threshold of the active universe (a partial drop, a
    stray row), over the whole history: such a day is never the store's last trading day."""
    section = CheckSection("incomplete_days", "불완전한 거래일")
    names = tickers.names(store)
    for day in incomplete_days(store):
        section.findings.append(Finding(f"{day.day}: {day.describe(names)}", day.as_dict()))
    return section


def lagging_series_section(store: MarketStore) -> CheckSection:
    """Every index series that ends before the prices' last complete day, and what the market features use."""
    section = CheckSection("lagging_series", "시세보다 늦은 지수")
    for lag in series_lag(store):
        if lag.lagging:
            section.findings.append(Finding(lag.describe(), {
                "name": lag.name, "last_date": lag.last_date, "prices_last": lag.prices_last,
                "lag_sessions": lag.sessions}))
    return section


#: The checks `kstock data check` runs, in the order it shows them.
CHECKS: list[Check] = [
    bad_rows_section,
    incomplete_days_section,
    lagging_series_section,
]


def run_checks(store: MarketStore, checks: list[Check] | None = None) -> list[CheckSection]:
    """Every check's section, in order."""
    return [check(store) for check in (CHECKS if checks is None else checks)]


def count_bad_rows(store: MarketStore) -> int:
    """How many stored price and index rows break the row rule (no reasons: for `data status`' one line)."""
    batches = itertools.chain(_stored_rows(store), _stored_index_rows(store))
    return sum(int(bad_row_mask(rows).sum()) for _, rows in batches)


def _stored_index_rows(store: MarketStore) -> list[tuple[np.ndarray, RowColumns]]:
    """The index table (small: one row per series and day) as rows for the rule."""
    rows = index_closes(store)
    if not rows:
        return []
    names, days, closes = zip(*rows, strict=True)
    dates = from_yyyymmdd(np.array(days, dtype=np.int64))
    return [(np.array(names), index_columns(dates, np.array(closes, dtype=float)))]


def _stored_rows(store: MarketStore) -> Iterator[tuple[np.ndarray, RowColumns]]:
    """(code of each row, the rows) a batch of codes at a time; a stored halt row (open/high/low NULL,
    ``halted`` 1) is given back as the source wrote it (zeros), so the rule reads it as a halt."""
    codes = store.price_codes()
    for at in range(0, len(codes), CODES_PER_BATCH):
        batch = codes[at: at + CODES_PER_BATCH]
        counts, rows = price_row_batch(store, batch)
        if not len(rows):
            continue
        halt = rows[:, 6] == 1
        opens, highs, lows = (np.where(halt, 0.0, rows[:, i]) for i in (1, 2, 3))
        columns = RowColumns(from_yyyymmdd(rows[:, 0].astype(np.int64)), opens, highs, lows, rows[:, 4], rows[:, 5])
        yield np.repeat(np.array(batch), counts), columns

