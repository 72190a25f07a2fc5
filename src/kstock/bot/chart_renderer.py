"""The bot's off-loop drawing of the /analyze chart: a pool of worker processes and a cache of the PNGs.

matplotlib holds the GIL for the ~150 ms a chart takes, so twenty charts drawn in threads would stall
the event loop (and every other user's reply) for seconds. :class:`ChartRenderer` draws them in a
small pool of worker *processes* (``spawn``: no fork of a threaded process), caches the PNG per
(ticker, data day, call, model versions) — the picture cannot change until one of those does — and
shares one drawing between simultaneous requests for the same picture. With ``workers=0`` it draws
in a thread instead (tests, or a platform where processes are unavailable).
The picture itself is drawn by :mod:`kstock.charts.analysis`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from kstock.service.analyze import Analysis, chart_request
from kstock.service.context import Services

log = logging.getLogger(__name__)


def _render(frame: Any, options: dict[str, Any]) -> bytes:
    from kstock.charts.analysis import render_analysis_chart

    return render_analysis_chart(frame, **options)


def _init_worker(parent: int) -> None:
    """Chart workers yield the CPU to the bot process (the text answer matters more than the picture) and die
    with it, however it ends."""
    from kstock.procs import die_with_parent

    die_with_parent(parent)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(5)


def _warm() -> bool:
    """Import matplotlib and the chart module in the worker before the first real request."""
    from matplotlib.figure import Figure  # noqa: F401

    import kstock.charts.analysis  # noqa: F401

    return True


class ChartRenderer:
    def __init__(self, services: Services, workers: int = 1, cache_size: int = 512) -> None:
        self.services = services
        self.workers = workers
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._file_ids: dict[tuple, str] = {}
        self._inflight: dict[tuple, asyncio.Future[bytes]] = {}
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.rendered = 0  # pictures actually drawn (cache misses)
        self._warming: list[concurrent.futures.Future] = []

    def start(self) -> None:
        """Start the worker processes and warm them (non-blocking: the import runs in the workers)."""
        if self.workers > 0 and self._pool is None:
            try:
                ctx = multiprocessing.get_context("spawn")
                self._pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=ctx,
                                                                 initializer=_init_worker, initargs=(os.getpid(),))
                self._warming = [self._pool.submit(_warm) for _ in range(self.workers)]
            except (OSError, ValueError, NotImplementedError) as exc:
                log.warning("chart worker processes unavailable (%s); drawing charts in threads", exc)
                self._pool = None

    def clear(self) -> None:
        """Forget cached pictures and uploaded file ids (benchmarks; never needed for correctness: the key
        holds the data day, the call and the model versions)."""
        self._cache.clear()
        self._file_ids.clear()

    @property
    def warm(self) -> bool:
        """True once every worker process has imported matplotlib (always True when drawing in threads)."""
        return all(f.done() for f in self._warming)

    def close(self) -> None:
        """Stop the worker processes now: a picture being drawn is dropped (the bot is stopping), and no
        worker is left waiting for a request that will never come."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())  # the executor's own workers
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.terminate()
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
                process.join(timeout=2.0)

    @staticmethod
    def key(analysis: Analysis) -> tuple:
        r = analysis.result
        return (analysis.ticker.code, r.date, r.label, tuple(sorted(r.model_versions.items())))

    def file_id(self, analysis: Analysis) -> str | None:
        """Telegram's id of this picture once uploaded: sending it again costs no upload."""
        return self._file_ids.get(self.key(analysis))

    def remember_file_id(self, analysis: Analysis, file_id: str) -> None:
        self._file_ids[self.key(analysis)] = file_id
        while len(self._file_ids) > self.cache_size:
            self._file_ids.pop(next(iter(self._file_ids)))

    async def png(self, analysis: Analysis) -> bytes:
        key = self.key(analysis)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._inflight[key] = future
        try:
            data = await self._draw(analysis)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(data)
        self._cache[key] = data
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return data

    async def _draw(self, analysis: Analysis) -> bytes:
        # a slice of cached arrays plus one indexed read of the stored calls: off the loop, so a store held
        # by another thread (a scoring's write) never stalls every chat
        frame, options = await asyncio.to_thread(self._request, analysis)
        self.rendered += 1
        if self._pool is not None:
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool, _render, frame, options)
            except concurrent.futures.process.BrokenProcessPool:
                log.warning("chart worker died; drawing in a thread from now on")
                self._pool = None
        return await asyncio.to_thread(_render, frame, options)

    def _request(self, analysis: Analysis) -> tuple[Any, dict[str, Any]]:
        data = self.services.model_data(analysis.result.date)  # the window the analysis was made on
        day = int(np.searchsorted(data.dates, np.datetime64(analysis.result.date, "D")))
        return chart_request(self.services, analysis.ticker, day, analysis.result.label, data)
