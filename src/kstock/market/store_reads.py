"""Read queries over the market data tables (``prices``, ``index_prices``, ``tickers``) for the modules that
judge the data rather than serve it: the completeness rule, `kstock data check`, the store's summary, the
trading calendar's cache, the pykrx source's "what is stored" and the lookup's traded-value order.

:class:`~kstock.market.store.MarketStore` keeps the reads the models and the app serve from (the panel, the
tickers, an index series); these are the rest, so the store stays one concern and the modules above never
hold the connection. Days are yyyymmdd integers, as stored.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # the store imports this module: no import back at run time
    from kstock.market.store import MarketStore

#: The distinct codes of the prices table by skipping from one code's keys to the next (a loose index scan).
CODES_CTE = ("c(code) AS (SELECT MIN(code) FROM prices UNION ALL "
             "SELECT (SELECT MIN(code) FROM prices WHERE code > c.code) FROM c WHERE c.code IS NOT NULL)")


class StoredRange(NamedTuple):
    """What the store already holds for one code: first and last day (yyyymmdd) and the last close."""

    first: int
    last: int
    last_close: float


class PriceTotals(NamedTuple):
    """The prices table in one row: how many rows, the first and last day (None when empty), halt rows."""

    rows: int
    first: int | None
    last: int | None
    halt_rows: int


class TickerCounts(NamedTuple):
    """The tickers table counted: in all, by market, by instrument kind, common stocks by sector id."""

    total: int
    by_market: dict[str, int]
    by_kind: dict[str, int]
    common_by_sector: list[tuple[int | None, int]]


class IndexTotals(NamedTuple):
    """One index series counted: its name, rows, first and last day."""

    name: str
    rows: int
    first: int
    last: int


# ---- the summary (`kstock data status`, /status) ----------------------------------------------------------

def price_totals(store: MarketStore) -> PriceTotals:
    """Rows, first and last day and halt rows of the whole prices table (one scan)."""
    rows, first, last, halts = store.conn.execute(
        "SELECT COUNT(*), MIN(date), MAX(date), COALESCE(SUM(halted), 0) FROM prices").fetchone()
    return PriceTotals(int(rows), first, last, int(halts))


def ticker_counts(store: MarketStore) -> TickerCounts:
    """The tickers table by market, kind and (common stocks only) sector id, each in key order."""
    q = store.conn.execute
    return TickerCounts(
        int(q("SELECT COUNT(*) FROM tickers").fetchone()[0]),
        dict(q("SELECT market, COUNT(*) FROM tickers GROUP BY market ORDER BY market").fetchall()),
        dict(q("SELECT kind, COUNT(*) FROM tickers GROUP BY kind ORDER BY kind").fetchall()),
        q("SELECT sector_id, COUNT(*) FROM tickers WHERE kind = 'common' GROUP BY sector_id "
          "ORDER BY sector_id").fetchall(),
    )


def index_totals(store: MarketStore) -> list[IndexTotals]:
    """Each stored index series with its row count and first and last day."""
    rows = store.conn.execute("SELECT name, COUNT(*), MIN(date), MAX(date) FROM index_prices GROUP BY name")
    return [IndexTotals(*row) for row in rows.fetchall()]


# ---- completeness: which names have rows on which days ----------------------------------------------------

def recent_price_keys(store: MarketStore, days: int) -> list[tuple[str, int]]:
    """(code, day) of every price row on each code's last ``days`` stored days: one seek per code, so the
    store's last ``days`` distinct days are all there whatever the history's length."""
    return store.conn.execute(
        f"WITH RECURSIVE {CODES_CTE} SELECT c.code, p.date FROM c JOIN prices p ON p.code = c.code "
        "WHERE c.code IS NOT NULL AND p.date >= COALESCE((SELECT date FROM prices q WHERE q.code = c.code "
        "ORDER BY date DESC LIMIT 1 OFFSET ?), 0)", (days - 1,)).fetchall()


def delisting_dates(store: MarketStore) -> dict[str, str]:
    """code → delisting date (as stored, ISO text) of every delisted ticker."""
    return dict(store.conn.execute("SELECT code, delisting_date FROM tickers WHERE delisting_date IS NOT NULL"))


def price_days_between(store: MarketStore, after: int, until: int) -> int:
    """How many distinct price days lie in (after, until]: one range seek per code (the span is short)."""
    return int(store.conn.execute(
        f"WITH RECURSIVE {CODES_CTE} SELECT COUNT(DISTINCT p.date) FROM c JOIN prices p ON p.code = c.code "
        "WHERE c.code IS NOT NULL AND p.date > ? AND p.date <= ?", (after, until)).fetchone()[0])


# ---- index series ------------------------------------------------------------------------------------------

def index_last_days(store: MarketStore) -> dict[str, int | None]:
    """name → last stored day of every index series, by name."""
    return dict(store.conn.execute("SELECT name, MAX(date) FROM index_prices GROUP BY name ORDER BY name"))


def index_last_day(store: MarketStore, name: str) -> int | None:
    """The last stored day of the index series ``name`` (any case); None when it is not stored."""
    row = store.conn.execute("SELECT MAX(date) FROM index_prices WHERE name = ?", (name.upper(),)).fetchone()
    return None if row[0] is None else int(row[0])


# ---- one code's stored history, the market's traded value -------------------------------------------------

def price_range(store: MarketStore, code: str) -> StoredRange | None:
    """First and last stored day and the last close of ``code``; None when nothing is stored."""
    row = store.conn.execute(
        "SELECT (SELECT MIN(date) FROM prices WHERE code = ?1), date, close FROM prices WHERE code = ?1 "
        "ORDER BY date DESC LIMIT 1",
        (code,),
    ).fetchone()
    return None if row is None else StoredRange(int(row[0]), int(row[1]), float(row[2]))


def traded_value_since(store: MarketStore, day: int) -> dict[str, float]:
    """code → total traded value (close × volume, 원) of its rows from ``day`` on, halt rows left out."""
    with store.lock:
        rows = store.conn.execute("SELECT code, SUM(close * volume) FROM prices WHERE date >= ? AND halted = 0 "
                                  "GROUP BY code", (day,)).fetchall()
    return {code: float(total or 0.0) for code, total in rows}


# ---- every stored row, for the row rule (`kstock data check`) ----------------------------------------------

class IndexClose(NamedTuple):
    """One stored index row for the row rule: series, day, close (text that SQLite holds reads as 0)."""

    name: str
    day: int
    close: float


def index_closes(store: MarketStore) -> list[IndexClose]:
    """Every index row (the table is small: one row per series and day), by series then day."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT name, date, CAST(close AS REAL) FROM index_prices ORDER BY name, date").fetchall()
    return [IndexClose(*row) for row in rows]


def price_row_batch(store: MarketStore, codes: list[str]) -> tuple[list[int], np.ndarray]:
    """Each code's row count and its rows as an (n, 7) array: date, open, high, low, close, volume, halted.

    One read transaction, so another process's write between the count and the read cannot shift the rows;
    a value SQLite holds as text reads as 0 (CAST), which the rule then refuses like any other bad price.
    """
    with store.lock:
        conn = store.conn
        conn.execute("BEGIN")
        try:
            counts = [conn.execute("SELECT COUNT(*) FROM prices WHERE code = ?", (c,)).fetchone()[0] for c in codes]
            cursor = conn.execute(
                "SELECT date, CAST(open AS REAL), CAST(high AS REAL), CAST(low AS REAL), CAST(close AS REAL), "
                f"CAST(volume AS REAL), halted FROM prices WHERE code IN ({','.join('?' * len(codes))}) "
                "ORDER BY code, date", codes)
            flat = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64, count=sum(counts) * 7)
        finally:
            conn.execute("COMMIT")
    return counts, flat.reshape(-1, 7)


def rows_after(store: MarketStore, day: int) -> dict[str, int]:
    """How many price and index rows are dated after ``day`` (yyyymmdd): rows from the future."""
    prices = store.conn.execute("SELECT COUNT(*) FROM prices WHERE date > ?", (day,)).fetchone()[0]
    index = store.conn.execute("SELECT COUNT(*) FROM index_prices WHERE date > ?", (day,)).fetchone()[0]
    return {"prices": int(prices), "index": int(index)}

