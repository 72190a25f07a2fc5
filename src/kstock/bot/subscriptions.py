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
from kstock.market.repositories import subscriptions as table
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
    """The bot's subscriptions and push log (its rules above; the rows in
    :mod:`kstock.market.repositories.subscriptions`)."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store

    # -- subscriptions -------------------------------------------------------------------------------
    def subscribe(self, chat_id: int, user_id: int | None) -> bool:
        """Activate; True when the chat was not already subscribed."""
        return table.activate(self.store, chat_id, user_id, utc_stamp(), wait=INTERACTIVE_WAIT)

    def unsubscribe(self, chat_id: int, reason: str = "user request") -> bool:
        """Deactivate with a reason (kept for /status and audits); True when it was active."""
        return table.deactivate(self.store, chat_id, reason, wait=INTERACTIVE_WAIT)

    def get(self, chat_id: int) -> Subscription | None:
        row = table.get(self.store, chat_id)
        return None if row is None else Subscription(row[0], row[1], row[2], bool(row[3]), row[4])

    def is_subscribed(self, chat_id: int) -> bool:
        sub = self.get(chat_id)
        return bool(sub and sub.active)

    def active_chats(self) -> list[int]:
        return table.active_chats(self.store)

    def counts(self) -> dict[str, int]:
        got = table.counts(self.store)
        return {"active": got.get(True, 0), "inactive": got.get(False, 0)}

    # -- push log ------------------------------------------------------------------------------------
    def claim_push(self, day: dt.date, chat_id: int, kind: str = PUSH_SIGNALS) -> bool:
        """Reserve (day, chat, kind); False when it was already sent, attempted or being sent."""
        return table.claim_push(self.store, day_key(day), chat_id, kind, utc_stamp())

    def finish_push(self, day: dt.date, chat_id: int, status: str, kind: str = PUSH_SIGNALS) -> None:
        table.finish_push(self.store, day_key(day), chat_id, kind, status, utc_stamp())

    def release_push(self, day: dt.date, chat_id: int, kind: str = PUSH_SIGNALS) -> None:
        """Forget a claim whose message certainly did not arrive, so a later run may retry it."""
        table.release_push(self.store, day_key(day), chat_id, kind)

    def push_statuses(self, day: dt.date, kind: str = PUSH_SIGNALS) -> dict[int, str]:
        return table.push_statuses(self.store, day_key(day), kind)

    def pending_push(self, day: dt.date, kind: str = PUSH_SIGNALS) -> list[int]:
        """Active subscribers with no push-log row for ``day`` yet."""
        done = self.push_statuses(day, kind)
        return [c for c in self.active_chats() if c not in done]
