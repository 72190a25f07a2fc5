"""App notes in the ``meta`` table (key → text) and the store's data version.

The data version — the id of the last row of ``data_updates`` — changes with every data update (and
every failed attempt, which is logged too): caches of what is computed from the data (the serving
window, the trading calendar) compare it to know when to rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store's own summary reads the data version: no import back at run time
    from kstock.market.store import MarketStore


def data_version(store: MarketStore) -> int | None:
    """The id of the last logged data update (None before any): changes whenever the data may have."""
    return store.conn.execute("SELECT MAX(id) FROM data_updates").fetchone()[0]


def change_key(store: MarketStore) -> tuple[int | None, int]:
    """(data version, writes through the store by any thread): the key of caches of what is computed from the
    data in this process (the trading calendar, the complete days), which a write not yet logged as an update
    (an import half-way, a test's direct write) must invalidate too."""
    return data_version(store), store.total_changes


def last_update_key(store: MarketStore) -> list | None:
    """[id, finished_at, rows_changed] of the last logged data update (None before any): the data version
    files cached beside the store (the serving window, the stored day) are keyed by."""
    update = store.conn.execute(
        "SELECT id, finished_at, rows_changed FROM data_updates ORDER BY id DESC LIMIT 1").fetchone()
    return list(update) if update else None


def get(store: MarketStore, key: str) -> str | None:
    """The note ``key``, or None when there is none."""
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def put(store: MarketStore, key: str, value: str, wait: float | None = None) -> None:
    """Set ``key`` to ``value`` (one transaction; ``wait``: see :meth:`MarketStore.transaction`)."""
    with store.transaction(wait=wait) as conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def delete(store: MarketStore, keys: Iterable[str], wait: float | None = None) -> None:
    """Remove ``keys`` (one transaction; absent keys are no error)."""
    with store.transaction(wait=wait) as conn:
        conn.executemany("DELETE FROM meta WHERE key = ?", [(key,) for key in keys])


def with_prefix(store: MarketStore, prefix: str) -> list[tuple[str, str]]:
    """(key, value) of every note whose key starts with ``prefix``."""
    with store.lock:
        return store.conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", (prefix + "%",)).fetchall()


_UPDATE_FIELDS = ("source", "finished_at", "rows_changed", "status", "message")


def last_update(store: MarketStore) -> dict | None:
    """The last logged data update, ok or not (``data status``, ``/status``); None before any."""
    sql = f"SELECT {', '.join(_UPDATE_FIELDS)} FROM data_updates ORDER BY id DESC LIMIT 1"
    row = store.conn.execute(sql).fetchone()
    return None if row is None else dict(zip(_UPDATE_FIELDS, row, strict=True))


def last_good_update(store: MarketStore) -> dict | None:
    """The last data update that succeeded (source, finished_at, rows_changed); None before any."""
    row = store.conn.execute("SELECT source, finished_at, rows_changed FROM data_updates WHERE status = 'ok' "
                             "ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else dict(zip(_UPDATE_FIELDS[:3], row, strict=True))

