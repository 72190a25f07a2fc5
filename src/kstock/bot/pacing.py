"""Pacing the daily push under Telegram's limit on bulk messages (about 30 a second for the whole bot).

A push to thousands of subscribers is the one burst the bot makes. :class:`RatePacer` spaces the push's
requests evenly at :data:`PUSH_RATE` a second — below the limit, so the replies the bot owes people asking
``/analyze`` meanwhile still fit beside it — and, when Telegram answers 429 anyway, holds *every* sender of
the push for the ``retry_after`` it asked for (the limit is the bot's, not one chat's: retrying the other
chats at once would only collect more 429s).

Only the push is paced: a person's reply never queues behind the push's 10,000 messages. (Why not PTB's
``AIORateLimiter``: see :mod:`kstock.bot.delivery`.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

#: The push's messages per second: below Telegram's ~30/s, with room for the replies sent meanwhile.
PUSH_RATE = 25.0
#: Concurrent senders of one push: a request's round trip and its two push-log writes overlap the others'
#: waits, so the push runs at the pacer's rate rather than one round trip at a time.
PUSH_SENDERS = 4


class RatePacer:
    """At most ``rate`` request starts a second, evenly spaced; :meth:`hold` pauses every caller."""

    def __init__(self, rate: float = PUSH_RATE, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self._next = 0.0  # the earliest start of the next request
        self._hold_until = 0.0
        self.holds = 0  # 429 pauses taken (for reports and tests)

    async def wait(self) -> None:
        """Wait for this caller's turn: its slot in the even spacing, after any hold."""
        while True:
            now = self.clock()
            start = max(now, self._next, self._hold_until)
            self._next = start + 1.0 / self.rate  # claimed before sleeping: no await between read and write
            if start > now:
                await self.sleep(start - now)
            if self.clock() >= self._hold_until:
                return
            # a 429 arrived while this caller slept: its slot is void, it takes a new one after the hold

    def hold(self, seconds: float) -> None:
        """Telegram asked to wait ``seconds`` (429 ``retry_after``): nobody starts a request before then."""
        self._hold_until = max(self._hold_until, self.clock() + seconds)
        self._next = max(self._next, self._hold_until)
        self.holds += 1
