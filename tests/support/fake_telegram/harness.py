"""Run a kstock bot Application against :class:`FakeTelegramServer` in a background thread.

The bot gets its own event loop in a daemon thread (long polling, job queue, handlers — the real PTB
stack over HTTP), so a test or benchmark drives it from plain blocking code::

    with FakeTelegramServer() as tg, BotHarness(app) as bot:
        tg.push_message(42, "/start")
        tg.wait_for(lambda r: r.chat_id == 42)
        bot.call(run_push(runtime, bot.app.bot, now=fake_now))   # a job body with a fake clock

``post_init`` runs as with ``run_polling`` (PTB calls it only from ``run_polling``/``run_webhook``), and
polling errors go to the application's error handlers the same way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from types import TracebackType
from typing import TypeVar

from telegram.error import TelegramError
from telegram.ext import Application

T = TypeVar("T")


class BotHarness:
    def __init__(self, app: Application, *, poll_timeout: float = 1.0) -> None:
        self.app = app
        self.poll_timeout = poll_timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="kstock-bot-harness", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        app = self.app
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)

        def error_callback(exc: TelegramError) -> None:
            app.create_task(app.process_error(error=exc, update=None))

        await app.updater.start_polling(poll_interval=0.0, timeout=self.poll_timeout, error_callback=error_callback)
        await app.start()

    def start(self, timeout: float = 30.0) -> BotHarness:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the bot did not start")
        if self._error is not None:
            raise self._error
        return self

    def call(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        """Run a coroutine on the bot's loop and wait for its result (from the calling thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    async def _stop(self) -> None:
        app = self.app
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)

    def stop(self, timeout: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self._stop(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if not self.loop.is_running():
                self.loop.close()

    def __enter__(self) -> BotHarness:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
