"""The state every handler and job shares: settings, services, store-backed subscriptions, delivery,
the rate limiter, the chart renderer, the clock and the executor for heavy work.

Heavy work (retraining, scoring a whole market, the first feature computation) runs in
:attr:`BotRuntime.heavy` — a small thread pool of its own, at a lower CPU priority — so it never
occupies the event loop nor the pool that answers ``/analyze`` (:attr:`BotRuntime.light`); locks keep
one retrain and one scoring at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kstock.bot.chart_renderer import ChartRenderer
from kstock.bot.delivery import Delivery
from kstock.bot.pacing import RatePacer
from kstock.bot.security import OncePer, SlidingWindowLimiter
from kstock.bot.subscriptions import SubscriptionStore
from kstock.config import Settings
from kstock.market.calendar import TradingCalendar
from kstock.market.freshness import SEOUL, seoul_now
from kstock.market.repositories.meta import data_version
from kstock.service.context import Services

T = TypeVar("T")
#: How long :meth:`BotRuntime.calendar` waits for the store before answering the calendar it built last.
CALENDAR_WAIT_S = 0.05
#: Niceness of the heavy-work threads (and the OpenMP/BLAS threads they start): the event loop wins the CPU.
BACKGROUND_NICE = 10


def background_priority() -> None:
    """Lower this thread's CPU priority (Linux keeps a nice value per thread; threads it starts inherit it).

    Training releases the GIL while LightGBM/XGBoost/torch run, so the only contention left is for CPU
    time; at a lower priority the training threads yield it to the thread answering users.
    """
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


class TextFirst:
    """Charts wait while /analyze answers are being written, so the texts go out first.

    A chart costs the event loop a multipart upload (and a worker process a render); with 20 users at
    once, early users' pictures used to share the loop with later users' answers and lengthen every
    answer's wait. A picture waits at most ``limit`` seconds, so a steady stream never starves them.
    """

    def __init__(self, limit: float = 3.0) -> None:
        self.limit, self.pending = limit, 0
        self._idle: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._idle is None:  # created on the bot's loop, on first use
            self._idle = asyncio.Event()
            self._idle.set()
        return self._idle

    def begin(self) -> None:
        self.pending += 1
        self._event().clear()

    def end(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.pending = 0
            self._event().set()

    async def wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event().wait(), self.limit)


@dataclass
class BotRuntime:
    settings: Settings
    services: Services
    subscriptions: SubscriptionStore
    delivery: Delivery
    limiter: SlidingWindowLimiter
    charts: ChartRenderer
    clock: Callable[[], dt.datetime] = seoul_now
    #: Minimum seconds between two edits of the /retrain progress message (Telegram rate-limits edits).
    progress_interval: float = 1.0
    #: Extra options per model kind passed to ``retrain`` (tests and benchmarks use small models).
    retrain_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Compute features and the last day's predictions in the background at start (first /analyze fast).
    warm_up_on_start: bool = True
    heavy: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="kstock-heavy",
                                                                      initializer=background_priority))
    #: Threads answering /analyze. Each analysis is a few ms of mostly GIL-bound work (plus LightGBM's
    #: own OpenMP threads for SHAP), so more threads only add contention; two keep one slow request
    #: (e.g. features recomputed after a data update) from holding up everyone.
    light: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="kstock-analyze"))
    retrain_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    score_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    push_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Draw the charts of the day's basket and watched stocks into the cache right after the scoring.
    predraw_charts: bool = True
    #: Paces the daily push under Telegram's bulk limit (tests and benchmarks pass a scaled-down one).
    push_pacer: RatePacer = field(default_factory=RatePacer)
    #: Chats outside KSTOCK_ALLOWED_CHAT_IDS answered lately: each gets the refusal at most once an hour.
    refusals: OncePer = field(default_factory=lambda: OncePer(3600.0))
    #: Set once the start-up warm-up has finished (or failed): caches filled, ready for full speed.
    warmed: threading.Event = field(default_factory=threading.Event)
    #: /analyze answers in flight; their charts wait for them (see :class:`TextFirst`).
    text_first: TextFirst = field(default_factory=TextFirst)
    #: Set by :meth:`abort_heavy` when the bot is stopping: no new heavy work starts.
    stopping: bool = False
    #: Work submitted to :attr:`heavy` or :attr:`light` and not finished (a thread cannot be stopped: a stopping
    #: bot ends without it).
    _running: set[concurrent.futures.Future] = field(default_factory=set, repr=False)
    #: The tasks (handlers, jobs) awaiting heavy work: cancelled when the bot stops.
    _heavy_waiters: set[asyncio.Task] = field(default_factory=set, repr=False)
    _calendar: tuple[Any, TradingCalendar] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings, services: Services, *, chart_workers: int = 1,
               clock: Callable[[], dt.datetime] | None = None, **options: Any) -> BotRuntime:
        subscriptions = SubscriptionStore(services.store)
        if clock is not None:  # the services' idea of "today" (data freshness, the source's day) follows it
            services.clock = clock
        return cls(
            settings=settings, services=services, subscriptions=subscriptions,
            delivery=Delivery(subscriptions), limiter=SlidingWindowLimiter(settings.analyze_per_minute, 60.0),
            charts=ChartRenderer(services, workers=chart_workers), clock=clock or seoul_now, **options,
        )

    def now(self) -> dt.datetime:
        """Now in Seoul (aware)."""
        now = self.clock()
        return now.astimezone(SEOUL) if now.tzinfo else now.replace(tzinfo=SEOUL)

    def calendar(self) -> TradingCalendar:
        """Trading days from the store (rebuilt after a data update), past the data by the KRX rule.

        Jobs ask for it on the event loop: while another thread of this bot holds the store (a write waiting
        for another process's lock, an import), the calendar built last is answered at once instead of
        freezing every chat — it only changes with a data update, which that very writer is doing.
        """
        store = self.services.store
        if not store.lock.acquire(timeout=-1 if self._calendar is None else CALENDAR_WAIT_S):
            assert self._calendar is not None
            return self._calendar[1]
        try:
            key = data_version(store)
            if self._calendar is None or self._calendar[0] != key:
                self._calendar = (key, TradingCalendar.from_store(store))
            return self._calendar[1]
        finally:
            store.lock.release()

    async def run_light(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a short request (an analysis) in the request pool, off the event loop."""
        return await asyncio.wrap_future(self._submit(self.light, functools.partial(fn, *args, **kwargs)))

    def _submit(self, pool: concurrent.futures.Executor, call: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Submit ``call`` and remember it until it is done (see :attr:`threads_busy`)."""
        future = pool.submit(call)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return future

    async def run_store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store access (a subscription, a count, a run record) off the event loop.

        SQLite waits up to its busy timeout for a store locked by another writer; on the loop that wait
        would freeze every chat. In a worker thread only the request that needs the store waits, and it
        ends in a :class:`~kstock.market.store.StoreError` the handler turns into "잠시 후 다시".
        """
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    async def run_heavy(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in the heavy-work pool; the event loop keeps answering meanwhile. A bot that is stopping
        starts none, and :meth:`abort_heavy` cancels the wait (the work itself runs on in its thread)."""
        if self.stopping:
            raise asyncio.CancelledError("the bot is stopping")
        future = self._submit(self.heavy, functools.partial(fn, *args, **kwargs))
        task = asyncio.current_task()
        if task is not None:
            self._heavy_waiters.add(task)
        try:
            return await asyncio.wrap_future(future)
        finally:
            self._heavy_waiters.discard(task)  # type: ignore[arg-type]

    def abort_heavy(self) -> None:
        """The bot is stopping (SIGINT/SIGTERM): cancel every wait on heavy work so handlers and jobs end now
        — a retrain holds a thread for minutes, and the application waits for its handlers before it stops.
        What the threads leave (a ``running`` run, a temporary model folder) is what a killed process leaves,
        and the next start clears it."""
        self.stopping = True
        for task in list(self._heavy_waiters):
            task.cancel()

    @property
    def threads_busy(self) -> bool:
        """Whether heavy work or a request still runs in a thread (the process then ends without it: a first
        analysis after a data update computes features for tens of seconds, a retrain for minutes)."""
        return any(not f.done() for f in list(self._running))

    def close(self) -> None:
        self.charts.close()
        self.heavy.shutdown(wait=False, cancel_futures=True)
        self.light.shutdown(wait=False, cancel_futures=True)


def runtime_of(context: Any) -> BotRuntime:
    """The :class:`BotRuntime` a handler or job callback runs with (``app.bot_data["runtime"]``)."""
    return context.application.bot_data["runtime"]


def command_args(message: Any) -> str:
    """What follows the command, as typed (``/analyze  삼성 전자`` → ``삼성 전자``); '' when nothing does."""
    if message is None or not message.text:
        return ""
    parts = message.text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""
