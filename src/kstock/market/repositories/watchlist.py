"""The ``watchlist`` table (schema v5): the stocks each chat follows. :mod:`kstock.service.watchlist`
owns the rules (the per-chat limit, the calls shown); this module only reads and writes the rows."""

from __future__ import annotations

from typing import Literal

from kstock.market.store import MarketStore


def add(store: MarketStore, chat_id: int, code: str, user_id: int | None, stamp: str,
        limit: int, wait: float | None = None) -> Literal["added", "exists", "full"]:
    """Follow ``code`` unless the chat already does ("exists") or already follows ``limit`` stocks ("full");
    the check and the insert are one transaction. ``wait``: see :meth:`MarketStore.transaction`."""
    with store.transaction(wait=wait) as conn:
        if conn.execute("SELECT 1 FROM watchlist WHERE chat_id = ? AND code = ?", (chat_id, code)).fetchone():
            return "exists"
        count = conn.execute("SELECT COUNT(*) FROM watchlist WHERE chat_id = ?", (chat_id,)).fetchone()[0]
        if count >= limit:
            return "full"
        conn.execute("INSERT INTO watchlist (chat_id, code, user_id, added_at) VALUES (?, ?, ?, ?)",
                     (chat_id, code, user_id, stamp))
        return "added"


def remove(store: MarketStore, chat_id: int, code: str, wait: float | None = None) -> bool:
    """Stop following ``code``; False when it was not followed."""
    with store.transaction(wait=wait) as conn:
        return conn.execute("DELETE FROM watchlist WHERE chat_id = ? AND code = ?", (chat_id, code)).rowcount > 0


def codes(store: MarketStore, chat_id: int) -> list[str]:
    """The codes a chat follows, in the order they were added."""
    with store.lock:
        rows = store.conn.execute("SELECT code FROM watchlist WHERE chat_id = ? ORDER BY added_at, code",
                                  (chat_id,)).fetchall()
    return [r[0] for r in rows]


def all_rows(store: MarketStore) -> list[tuple[int, str]]:
    """(chat, code) of every followed stock, by chat then in the order added."""
    with store.lock:
        return store.conn.execute("SELECT chat_id, code FROM watchlist ORDER BY chat_id, added_at, code").fetchall()
