"""Subscriptions and the push log, in the store (tables from schema v2), so they survive a restart.

The push log makes the daily push at-most-once per (day, chat, kind): a chat's row is *claimed*
(status ``sending``) in a transaction before the message goes out, then marked ``sent``, ``blocked``
or ``unknown`` (the request timed out: Telegram may have delivered it, so it is never repeated). Only
a definite failure (the message certainly did not arrive) releases the claim so a later run that day
may try again. A process killed between claim and send therefore skips that chat rather than risk a
duplicate — the rule is "never twice".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kstock.market.dates import utc_stamp
from kstock.market.store import MarketStore

PUSH_SIGNALS = "signals"
#: Seconds a /subscribe or /unsubscribe waits for a store another writer holds before it is told to retry.
INTERACTIVE_WAIT = 2.0


def day_key(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


@dataclass
class Subscription:
    chat_id: int
    user_id: int | None
    subscribed_at: str
    active: bool
    reason: str | None


class SubscriptionStore:
    def __init__(self, store: MarketStore) -> None:
        self.store = store

    # -- subscriptions -------------------------------------------------------------------------------
    def subscribe(self, chat_id: int, user_id: int | None) -> bool:
        """Activate; True when the chat was not already subscribed."""
        with self.store.transaction(wait=INTERACTIVE_WAIT) as conn:
            row = conn.execute("SELECT active FROM subscriptions WHERE chat_id = ?", (chat_id,)).fetchone()
            if row is not None and row[0]:
                return False
            conn.execute(
                "INSERT INTO subscriptions (chat_id, user_id, subscribed_at, active, reason) VALUES (?, ?, ?, 1, NULL) "
                "ON CONFLICT(chat_id) DO UPDATE SET user_id = excluded.user_id, "
                "subscribed_at = excluded.subscribed_at, active = 1, reason = NULL",
                (chat_id, user_id, utc_stamp()),
            )
            return True

    def unsubscribe(self, chat_id: int, reason: str = "user request") -> bool:
        """Deactivate with a reason (kept for /status and audits); True when it was active."""
        with self.store.transaction(wait=INTERACTIVE_WAIT) as conn:
            cur = conn.execute("UPDATE subscriptions SET active = 0, reason = ? WHERE chat_id = ? AND active = 1",
                               (reason, chat_id))
            return cur.rowcount > 0

    def get(self, chat_id: int) -> Subscription | None:
        with self.store.lock:
            row = self.store.conn.execute(
                "SELECT chat_id, user_id, subscribed_at, active, reason FROM subscriptions WHERE chat_id = ?",
                (chat_id,)).fetchone()
        return None if row is None else Subscription(row[0], row[1], row[2], bool(row[3]), row[4])

    def is_subscribed(self, chat_id: int) -> bool:
        sub = self.get(chat_id)
        return bool(sub and sub.active)

    def active_chats(self) -> list[int]:
        with self.store.lock:
            rows = self.store.conn.execute(
                "SELECT chat_id FROM subscriptions WHERE active = 1 ORDER BY subscribed_at, chat_id").fetchall()
        return [int(r[0]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.store.lock:
            rows = self.store.conn.execute("SELECT active, COUNT(*) FROM subscriptions GROUP BY active").fetchall()
        got = {bool(a): n for a, n in rows}
        return {"active": got.get(True, 0), "inactive": got.get(False, 0)}

    # -- push log ------------------------------------------------------------------------------------
    def claim_push(self, day: dt.date, chat_id: int, kind: str = PUSH_SIGNALS) -> bool:
        """Reserve (day, chat, kind); False when it was already sent, attempted or being sent."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO push_log (date, chat_id, kind, status, sent_at) VALUES (?, ?, ?, 'sending', ?)",
                (day_key(day), chat_id, kind, utc_stamp()))
            return cur.rowcount == 1

    def finish_push(self, day: dt.date, chat_id: int, status: str, kind: str = PUSH_SIGNALS) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE push_log SET status = ?, sent_at = ? WHERE date = ? AND chat_id = ? AND kind = ?",
                         (status, utc_stamp(), day_key(day), chat_id, kind))

    def release_push(self, day: dt.date, chat_id: int, kind: str = PUSH_SIGNALS) -> None:
        """Forget a claim whose message certainly did not arrive, so a later run may retry it."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM push_log WHERE date = ? AND chat_id = ? AND kind = ? AND status = 'sending'",
                         (day_key(day), chat_id, kind))

    def push_statuses(self, day: dt.date, kind: str = PUSH_SIGNALS) -> dict[int, str]:
        with self.store.lock:
            rows = self.store.conn.execute("SELECT chat_id, status FROM push_log WHERE date = ? AND kind = ?",
                                           (day_key(day), kind)).fetchall()
        return {int(c): s for c, s in rows}

    def pending_push(self, day: dt.date, kind: str = PUSH_SIGNALS) -> list[int]:
        """Active subscribers with no push-log row for ``day`` yet."""
        done = self.push_statuses(day, kind)
        return [c for c in self.active_chats() if c not in done]
