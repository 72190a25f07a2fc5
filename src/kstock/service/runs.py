"""Job runs recorded in the store: start, end, status, metrics, error — what `/status` shows.

Each run records its owner (host name and process id) and a heartbeat the owning process refreshes
while the run lasts. A run still marked ``running`` is only declared interrupted (by
:func:`mark_interrupted`, at the start of the bot or of a writing command) when its owner is really
gone: the same host and a process id that is no longer alive, or a heartbeat older than
:data:`STALE_AFTER` (another host, or a pid reused since). A live training in another process is
never marked failed, and read-only commands do not call this at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kstock.market.dates import day_int, iso, utc_stamp
from kstock.market.repositories import job_runs
from kstock.market.store import MarketStore
from kstock.procs import pid_alive

log = logging.getLogger(__name__)

#: How often a process refreshes the heartbeat of the runs it owns.
HEARTBEAT_EVERY = dt.timedelta(seconds=30)
#: A running run with no heartbeat for this long has lost its owner (whatever host it ran on).
STALE_AFTER = dt.timedelta(minutes=10)
INTERRUPTED = "중단됨: 실행이 끝나기 전에 프로세스가 멈췄습니다"


def this_host() -> str:
    return socket.gethostname()


@dataclass
class JobRun:
    id: int
    job: str
    started_at: str
    finished_at: str | None
    status: str  # running / ok / kept / failed / skipped / stale
    metrics: dict[str, Any]
    error: str | None
    day: str | None = None  # the trading day a daily-loop step was for (ISO)


def start_run(store: MarketStore, job: str, day: str | None = None, wait: float | None = None) -> int:
    """Record a new ``running`` run owned by this process; its heartbeat is kept fresh until it finishes.

    ``day`` (ISO) is the trading day a step of the daily loop is for (see :func:`run_for_day`). ``wait``: the
    most seconds to wait for another writer (default the store's busy timeout; a chat passes its short wait),
    then :class:`~kstock.market.store.StoreError`.
    """
    run_id = job_runs.insert(store, job, utc_stamp(), this_host(), os.getpid(), day_int(day) if day else None,
                             wait)
    _HEARTBEAT.add(store.path, run_id)
    return run_id


def finish_run(store: MarketStore, run_id: int, status: str, metrics: dict[str, Any] | None = None,
               error: str | None = None) -> None:
    _HEARTBEAT.discard(store.path, run_id)
    job_runs.finish(store, run_id, utc_stamp(), status, json.dumps(metrics or {}, ensure_ascii=False, default=str),
                    error)


def set_run_day(store: MarketStore, run_id: int, day: str) -> None:
    """Record the trading day (ISO) a run turned out to be for (a scoring of "the last stored day")."""
    job_runs.set_day(store, run_id, day_int(day))


def last_runs(store: MarketStore, limit: int = 10, job: str | None = None) -> list[JobRun]:
    return [_job_run(r) for r in job_runs.last(store, limit, job)]


def run_for_day(store: MarketStore, job: str, day: str) -> JobRun | None:
    """The latest run of ``job`` for the trading day ``day`` (ISO), or None."""
    row = job_runs.for_day(store, job, day_int(day))
    return _job_run(row) if row else None


def _job_run(r: tuple) -> JobRun:
    """A row of :data:`job_runs.COLUMNS` as a :class:`JobRun`."""
    return JobRun(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else {}, r[6], iso(r[7]) if r[7] else None)


def mark_interrupted(store: MarketStore, now: dt.datetime | None = None) -> int:
    """Runs left 'running' by a process that is gone become 'failed' with a reason; returns how many.

    A run whose owner still lives — another process on this host, or a fresh heartbeat — is left alone.
    """
    now = now or dt.datetime.now(dt.UTC)
    rows = job_runs.running(store)
    gone = [run_id for run_id, host, pid, beat in rows if owner_gone(host, pid, beat, now, (store.path, run_id))]
    if not gone:
        return 0
    return job_runs.fail_running(store, gone, utc_stamp(), INTERRUPTED)


def owner_gone(host: str | None, pid: int | None, heartbeat: str | None, now: dt.datetime,
               run: tuple[Path, int] | None = None) -> bool:
    """True when the process that owns a run is certainly not running it any more."""
    if host == this_host() and pid is not None:
        if pid == os.getpid():
            # this very process: gone only for a run it no longer tracks (started by an earlier incarnation)
            return run is None or not _HEARTBEAT.owns(*run)
        if not pid_alive(pid):
            return True
    try:
        beat = dt.datetime.fromisoformat(heartbeat) if heartbeat else None
    except ValueError:
        beat = None
    if beat is None:
        return True
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=dt.UTC)
    return now - beat > STALE_AFTER


class _Heartbeat:
    """One daemon thread per process refreshing ``heartbeat_at`` of the runs this process owns.

    It writes through a connection of its own (short busy timeout, errors ignored): a locked store
    delays a beat, never a run.
    """

    def __init__(self) -> None:
        self._runs: dict[Path, set[int]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, path: Path, run_id: int) -> None:
        with self._lock:
            self._runs.setdefault(Path(path), set()).add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="kstock-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, path: Path, run_id: int) -> None:
        with self._lock:
            self._runs.get(Path(path), set()).discard(run_id)

    def owns(self, path: Path | None, run_id: int | None) -> bool:
        """Whether this process started ``run_id`` in the store at ``path`` and has not finished it."""
        with self._lock:
            return path is not None and run_id in self._runs.get(Path(path), set())

    def _loop(self) -> None:
        while not self._wake.wait(HEARTBEAT_EVERY.total_seconds()):
            with self._lock:
                work = {path: sorted(ids) for path, ids in self._runs.items() if ids}
            for path, ids in work.items():
                self._beat(path, ids)

    @staticmethod
    def _beat(path: Path, ids: list[int]) -> None:
        try:
            job_runs.beat(path, ids, utc_stamp())
        except sqlite3.Error as exc:
            log.debug("heartbeat skipped: %s", exc)


_HEARTBEAT = _Heartbeat()
