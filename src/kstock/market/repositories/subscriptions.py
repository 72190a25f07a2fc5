"""The ``subscriptions`` and ``push_log`` tables (schema v2): who gets the daily push, and what was sent.

:class:`kstock.bot.subscriptions.SubscriptionStore` decides the rules (at-most-once pushes, how long a
person's request waits for the store); this module only reads and writes the rows. ``wait``: passed to
:meth:`~kstock.market.store.MarketStore.transaction`. Days are yyyymmdd integers, stamps UTC text.
"""

from __future__ import annotations

from kstock.market.store import MarketStore


def activate(store: MarketStore, chat_id: int, user_id: int | None, stamp: str, wait: float | None = None) -> bool:
    """Make ``chat_id`` an active subscriber; False (nothing written) when it already was."""
    with store.transaction(wait=wait) as conn:
        row = conn.execute("SELECT active FROM subscriptions WHERE chat_id = ?", (chat_id,)).fetchone()
        if row is not None and row[0]:
            return False
        conn.execute(
            "INSERT INTO subscriptions (chat_id, user_id, subscribed_at, active, reason) VALUES (?, ?, ?, 1, NULL) "
            "ON CONFLICT(chat_id) DO UPDATE SET user_id = excluded.user_id, "
            "subscribed_at = excluded.subscribed_at, active = 1, reason = NULL",
            (chat_id, user_id, stamp),
        )
        return True


def deactivate(store: MarketStore, chat_id: int, reason: str, wait: float | None = None) -> bool:
    """Deactivate ``chat_id`` with ``reason``; True when it was active."""
    with store.transaction(wait=wait) as conn:
        cur = conn.execute("UPDATE subscriptions SET active = 0, reason = ? WHERE chat_id = ? AND active = 1",
                           (reason, chat_id))
        return cur.rowcount > 0


def get(store: MarketStore, chat_id: int) -> tuple[int, int | None, str, int, str | None] | None:
    """(chat_id, user_id, subscribed_at, active, reason) of ``chat_id``, or None."""
    with store.lock:
        return store.conn.execute(
            "SELECT chat_id, user_id, subscribed_at, active, reason FROM subscriptions WHERE chat_id = ?",
            (chat_id,)).fetchone()


def active_chats(store: MarketStore) -> list[int]:
    """Active subscribers, the earliest first."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT chat_id FROM subscriptions WHERE active = 1 ORDER BY subscribed_at, chat_id").fetchall()
    return [int(r[0]) for r in rows]


def counts(store: MarketStore) -> dict[bool, int]:
    """active → how many subscriptions (absent when none)."""
    with store.lock:
        rows = store.conn.execute("SELECT active, COUNT(*) FROM subscriptions GROUP BY active").fetchall()
    return {bool(a): n for a, n in rows}


def claim_push(store: MarketStore, day: int, chat_id: int, kind: str, stamp: str) -> bool:
    """Insert a ``sending`` row for (day, chat, kind); False when a row was already there."""
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT OR IGNORE INTO push_log (date, chat_id, kind, status, sent_at) VALUES (?, ?, ?, 'sending', ?)",
            (day, chat_id, kind, stamp))
        return cur.rowcount == 1


def finish_push(store: MarketStore, day: int, chat_id: int, kind: str, status: str, stamp: str) -> None:
    """Set the status of (day, chat, kind)."""
    with store.transaction() as conn:
        conn.execute("UPDATE push_log SET status = ?, sent_at = ? WHERE date = ? AND chat_id = ? AND kind = ?",
                     (status, stamp, day, chat_id, kind))


def release_push(store: MarketStore, day: int, chat_id: int, kind: str) -> None:
    """Delete (day, chat, kind) while it is still only claimed (``sending``)."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM push_log WHERE date = ? AND chat_id = ? AND kind = ? AND status = 'sending'",
                     (day, chat_id, kind))


def push_statuses(store: MarketStore, day: int, kind: str) -> dict[int, str]:
    """chat → status of every push-log row of (day, kind)."""
    with store.lock:
        rows = store.conn.execute("SELECT chat_id, status FROM push_log WHERE date = ? AND kind = ?",
                                  (day, kind)).fetchall()
    return {int(c): s for c, s in rows}
