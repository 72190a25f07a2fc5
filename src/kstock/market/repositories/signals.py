"""A scored day in the store: the ``signals`` and ``predictions`` it wrote, and the reads of its calls.

:func:`save_scoring` writes a whole scoring in one transaction (with the day's book and publication,
see :mod:`.book`); the rest read the ``signals`` table — the calls users were shown — for the book's
fallback, the watchlist and the chart. Days are yyyymmdd integers, as stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from kstock.market.repositories.book import COLUMNS as BOOK_COLUMNS
from kstock.market.store import MarketStore


def save_scoring(store: MarketStore, day: int, signals: Sequence[tuple], predictions: Sequence[tuple],
                 book: Sequence[tuple], *, stale: bool, versions: dict[str, str], created: str,
                 last_scored: str, notes: dict | None = None,
                 within: Callable[[], None] | None = None) -> None:
    """Replace ``day``'s signals, upsert its predictions and, unless a current book of that day was already
    published, replace its book and publication (with its ``notes``: skipped days, why there is no basket);
    note ``last_scored`` (JSON) in ``meta``; call ``within`` (the daily loop's record of the step). One
    transaction.

    A book published on current data is the record the ledger measures: a later re-scoring of the same day
    (by hand, another model) refreshes the predictions but never rewrites what was published.
    """
    with store.transaction() as conn:
        conn.execute("DELETE FROM signals WHERE date = ?", (day,))
        conn.executemany("INSERT INTO signals VALUES (?, ?, ?, ?, ?, ?, ?, ?)", signals)
        conn.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", predictions)
        published = conn.execute("SELECT 1 FROM publications WHERE date = ? AND stale = 0", (day,)).fetchone()
        if published is None:
            conn.execute("DELETE FROM book WHERE date = ?", (day,))
            # columns by name: a store whose book table got a column by ALTER has them in another order
            conn.executemany(f"INSERT INTO book (date, {', '.join(BOOK_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * (len(BOOK_COLUMNS) + 1))})", [(day, *row) for row in book])
            conn.execute("INSERT OR REPLACE INTO publications (date, data_date, stale, versions, created_at, notes) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (day, day, int(stale), json.dumps(versions), created,
                                                       json.dumps(notes, ensure_ascii=False) if notes else None))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_scored', ?)", (last_scored,))
        if within is not None:
            within()


def last_day(store: MarketStore) -> int | None:
    """The last scored day (yyyymmdd), or None when nothing was scored."""
    row = store.conn.execute("SELECT MAX(date) FROM signals").fetchone()
    return None if row[0] is None else int(row[0])


def day_before(store: MarketStore, day: int) -> int | None:
    """The last scored day before ``day``, or None."""
    row = store.conn.execute("SELECT MAX(date) FROM signals WHERE date < ?", (day,)).fetchone()
    return None if row[0] is None else int(row[0])


def scored(store: MarketStore, day: int) -> bool:
    """Whether ``day`` has stored signals."""
    return store.conn.execute("SELECT 1 FROM signals WHERE date = ? LIMIT 1", (day,)).fetchone() is not None


def strongest(store: MarketStore, day: int, label: str, top: int) -> list[tuple]:
    """(code, label, probability, score, rank) of ``day``'s ``label`` calls, the most extreme score first:
    highest for BUY, lowest otherwise."""
    order = "DESC" if label == "BUY" else "ASC"
    return store.conn.execute(f"SELECT code, label, probability, score, rank FROM signals WHERE date = ? AND "
                              f"label = ? ORDER BY score {order} LIMIT ?", (day, label, top)).fetchall()


def calls(store: MarketStore, day: int, codes: Sequence[str] | None = None) -> dict[str, tuple]:
    """code → (label, probability, score) on ``day``, of ``codes`` (default: every scored name)."""
    if codes is None:
        rows = store.conn.execute("SELECT code, label, probability, score FROM signals WHERE date = ?",
                                  (day,)).fetchall()
    else:
        marks = ",".join("?" * len(codes))
        rows = store.conn.execute(f"SELECT code, label, probability, score FROM signals WHERE date = ? AND code IN "
                                  f"({marks})", (day, *codes)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def scores(store: MarketStore, day: int) -> list[tuple[str, float]]:
    """(code, score) of every name scored on ``day`` with a finite score, in stored order."""
    return store.conn.execute("SELECT code, score FROM signals WHERE date = ? AND score IS NOT NULL",
                              (day,)).fetchall()


def history(store: MarketStore, code: str, start: int, end: int) -> list[tuple[int, str]]:
    """(day, label) of ``code``'s stored calls between ``start`` and ``end`` (inclusive), oldest first."""
    return store.conn.execute("SELECT date, label FROM signals WHERE code = ? AND date BETWEEN ? AND ? "
                              "ORDER BY date", (code, start, end)).fetchall()
