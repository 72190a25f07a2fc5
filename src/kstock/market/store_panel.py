"""Reading the prices table into the dense panel (split from :mod:`kstock.market.store` by concern).

One ordered read of the primary key (code, date) streamed into numpy with ``np.fromiter`` — no per-row
Python objects are kept. A recent window seeks each code's date range instead of scanning every stored
row, so its cost does not grow with the history.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from kstock.market.dates import from_yyyymmdd, to_yyyymmdd
from kstock.market.store_files import StoreError
from kstock.market.types import Panel

CODES_PER_QUERY = 500  # bound parameters per query (SQLite's limit is 32766, older builds 999)


def read_panel_rows(conn: sqlite3.Connection, codes: Sequence[str] | None, lo: int, hi: int,
                    seek: Sequence[str] | None = None) -> tuple[list[str], list[int], np.ndarray]:
    """(codes with rows in [lo, hi], each code's row count, the rows as an (n, 6) array of date, open (-1 on
    a halt), high, low, close, volume), ordered by code and date.

    ``seek``: the candidate codes whose ranges are looked up one by one through the primary key (a recent
    window); None counts them with one ``GROUP BY`` over the range, keeping ``codes`` (None: all).
    """
    for _attempt in range(3):  # a write between the count and the read changes the row count: read again
        found, counts = _counts(conn, codes, lo, hi, seek)
        values = itertools.chain.from_iterable(_rows(conn, found, lo, hi))
        try:
            flat = np.fromiter(values, dtype=np.float64, count=sum(counts) * 6)
        except ValueError:  # fewer rows than counted
            continue
        if next(values, None) is None:  # and not more
            return found, counts, flat.reshape(-1, 6)
    raise StoreError("the store kept changing while it was read; try again when the import has finished")


def _rows(conn: sqlite3.Connection, codes: list[str], lo: int, hi: int) -> Iterator[tuple]:
    for i in range(0, len(codes), CODES_PER_QUERY):
        batch = codes[i : i + CODES_PER_QUERY]
        # a halt row has open NULL (see MarketStore.upsert_prices): -1 marks it without a seventh column
        yield from conn.execute(
            "SELECT date, COALESCE(open, -1), high, low, close, volume FROM prices "
            f"WHERE code IN ({','.join('?' * len(batch))}) AND date BETWEEN ? AND ? ORDER BY code, date",
            [*batch, lo, hi])


def _counts(conn: sqlite3.Connection, codes: Sequence[str] | None, lo: int, hi: int,
            seek: Sequence[str] | None) -> tuple[list[str], list[int]]:
    if seek is None:
        counts = conn.execute(
            "SELECT code, COUNT(*) FROM prices WHERE date BETWEEN ? AND ? GROUP BY code ORDER BY code", (lo, hi)
        ).fetchall()
        if codes is not None:
            wanted = set(codes)
            counts = [c for c in counts if c[0] in wanted]
        return [c for c, _ in counts], [n for _, n in counts]
    query = "SELECT COUNT(*) FROM prices WHERE code = ? AND date BETWEEN ? AND ?"
    found = [(c, conn.execute(query, (c, lo, hi)).fetchone()[0]) for c in seek]
    found = [(c, n) for c, n in found if n]
    return [c for c, _ in found], [n for _, n in found]


def to_panel(codes: list[str], counts: list[int], data: np.ndarray, sector_ids: np.ndarray,
             dtype: type[np.floating] = np.float64) -> Panel:
    """Rows from :func:`read_panel_rows` → the dense panel; halt rows become NaN (and ``halted``)."""
    dates_int = data[:, 0].astype(np.int64)
    uniq = np.unique(dates_int)
    day_pos = np.searchsorted(uniq, dates_int)
    tick_pos = np.repeat(np.arange(len(codes)), counts)
    ohlcv = np.full((len(codes), len(uniq), 5), np.nan, dtype=dtype)
    ohlcv[tick_pos, day_pos] = data[:, 1:6]
    halted = np.zeros((len(codes), len(uniq)), dtype=bool)
    halted[tick_pos, day_pos] = data[:, 1] < 0
    ohlcv[halted] = np.nan
    return Panel(codes=codes, dates=from_yyyymmdd(uniq), ohlcv=ohlcv, halted=halted, sector_ids=sector_ids)


def price_rows(prices: pd.DataFrame) -> list[tuple]:
    """Long frame → the ``prices`` table's rows, marking KRX halt rows (their non-prices stored as NULL)."""
    o, h, lo = (prices[c].to_numpy(dtype=float) for c in ("open", "high", "low"))
    close = prices["close"].to_numpy(dtype=float)
    vol = prices["volume"].to_numpy(dtype=float)
    halted = (o == 0) & (h == 0) & (lo == 0) & (vol == 0)
    obj = lambda a: np.where(halted, None, a).tolist()  # noqa: E731 - NULL out non-prices on halt rows
    return list(zip(prices["code"].astype(str).tolist(), to_yyyymmdd(prices["date"]).tolist(), obj(o), obj(h),
                    obj(lo), close.tolist(), vol.tolist(), halted.astype(int).tolist(), strict=True))
