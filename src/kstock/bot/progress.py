"""Live progress in ONE chat message: lines from a worker thread, edits throttled, a final result.

Telegram limits edits (about one per second per chat before 429s); progress from training arrives
much faster. :class:`ProgressMessage` keeps the newest lines and edits at most once per ``interval``
seconds, always showing the latest state; :meth:`ProgressMessage.finish` writes the result last.
"Message is not modified" is ignored (see :meth:`kstock.bot.delivery.Delivery.edit_text`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from telegram.error import TelegramError

from kstock.bot.delivery import ChatUnreachable, Delivery

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)


class ProgressMessage:
    def __init__(self, delivery: Delivery, bot: Bot, chat_id: int, message_id: int,
                 render: Callable[[list[str]], str], interval: float = 1.0) -> None:
        self.delivery, self.bot, self.chat_id, self.message_id = delivery, bot, chat_id, message_id
        self.render, self.interval = render, interval
        self.lines: list[str] = []
        self.edits = 0
        self._loop = asyncio.get_running_loop()
        self._last_edit = time.monotonic()  # the message was just sent
        self._dirty = False
        self._editing = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def from_thread(self, line: str) -> None:
        """Progress callback for code running in a worker thread (``retrain(progress=...)``)."""
        self._loop.call_soon_threadsafe(self.add, line)

    def add(self, line: str) -> None:
        if self._closed:
            return
        self.lines.append(line)
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._dirty and not self._closed:
            wait = self._last_edit + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty = False
            await self._edit(self.render(self.lines))

    async def _edit(self, text: str) -> bool:
        self._editing = True
        try:
            changed = await self.delivery.edit_text(self.bot, self.chat_id, self.message_id, text)
            self.edits += changed
            return True
        except (ChatUnreachable, TelegramError) as exc:
            log.warning("progress edit failed: %s", type(exc).__name__)
            return False
        finally:
            self._editing = False
            self._last_edit = time.monotonic()

    async def finish(self, text: str) -> None:
        """Stop progress edits and show ``text``; sent as a new message if the edit fails."""
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            if self._editing:
                with contextlib.suppress(Exception):
                    await task
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        wait = self._last_edit + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if not await self._edit(text):
            with contextlib.suppress(ChatUnreachable, TelegramError):
                await self.delivery.send_text(self.bot, self.chat_id, text)
