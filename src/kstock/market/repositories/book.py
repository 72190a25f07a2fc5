"""The stored book (``book``) and its publications (``publications``): what was published, as the ledger
measures it. Written by :func:`.signals.save_scoring` with the day's signals. Days are yyyymmdd."""

from __future__ import annotations

from typing import NamedTuple

from kstock.market.store import MarketStore


class BookRow(NamedTuple):
    """One name of a day's book, as stored (the ``book`` table's columns after its day). Days are yyyymmdd."""

    side: str  # BUY (held after the day's trades) / EXIT (sold at the next open) / SELL (a warning)
    code: str
    rank: int
    entry: str | None  # BUY: new / kept / held
    entry_date: int | None  # the day the current holding started
    score: float | None
    traded_value_20d: float | None
    close: float | None
    expected_excess: float | None  # the score band's headline number
    hit_rate: float | None
    samples: int | None
    bought_on: int | None  # the day the name was first bought (kept holdings carry it)


#: The columns of a book row after its day, in the order :func:`rows` returns them.
COLUMNS = BookRow._fields


def rows(store: MarketStore, day: int) -> list[BookRow]:
    """``day``'s book rows, by side then rank; [] when the day has no stored book."""
    found = store.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM book WHERE date = ? ORDER BY side, rank",
                               (day,)).fetchall()
    return [BookRow(*row) for row in found]


def last_published_before(store: MarketStore, day: int) -> int | None:
    """The last day before ``day`` whose book was published (scored on current data), or None."""
    row = store.conn.execute("SELECT MAX(date) FROM publications WHERE stale = 0 AND date < ?", (day,)).fetchone()
    return None if row[0] is None else int(row[0])


def holdings_before(store: MarketStore, day: int) -> list[tuple[str, int | None, int | None]]:
    """(code, entry day, first bought) of the BUY side of the last *published* book before ``day``.

    Only what subscribers received counts (DESIGN §7): a book stored on stale data was never sent, so its
    buys are never sold and its holdings never carried.
    """
    return store.conn.execute(
        "SELECT code, entry_date, bought_on FROM book WHERE side = 'BUY' AND date = "
        "(SELECT MAX(date) FROM publications WHERE stale = 0 AND date < ?)", (day,),
    ).fetchall()


def tranche(store: MarketStore, day: int) -> list[tuple[str, str, int]]:
    """(code, name, rank) of ``day``'s tranche — the names bought at the next open or kept for another
    horizon, not older holdings — in rank order."""
    return store.conn.execute("SELECT b.code, COALESCE(k.name, b.code), b.rank FROM book b LEFT JOIN tickers k "
                              "ON k.code = b.code WHERE b.date = ? AND b.side = 'BUY' AND "
                              "COALESCE(b.entry, 'new') IN ('new', 'kept') ORDER BY b.rank", (day,)).fetchall()


def publication(store: MarketStore, day: int) -> tuple[int, int, str | None, str | None] | None:
    """(data day, stale, versions JSON, notes JSON) of ``day``'s publication, or None when it was never scored."""
    return store.conn.execute("SELECT data_date, stale, versions, notes FROM publications WHERE date = ?",
                              (day,)).fetchone()


def published(store: MarketStore, since: int = 0) -> list[tuple[int, str | None]]:
    """(day, versions JSON) of every day published on current data (not stale) from ``since``, oldest first."""
    return store.conn.execute("SELECT date, versions FROM publications WHERE stale = 0 AND date >= ? ORDER BY date",
                              (since,)).fetchall()
