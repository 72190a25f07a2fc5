"""The ``job_runs`` table: one row per run of a job (update, score, retrain, push …) with its owner and
heartbeat. :mod:`kstock.service.runs` decides what the rows mean (ownership, interruption); this module
only reads and writes them. Days are yyyymmdd integers, stamps UTC text (``utc_stamp``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kstock.market.store import MarketStore

#: The columns :func:`last` and :func:`for_day` return, in order.
COLUMNS = "id, job, started_at, finished_at, status, metrics, error, day"


def insert(store: MarketStore, job: str, started_at: str, host: str, pid: int, day: int | None,
           wait: float | None = None) -> int:
    """A new ``running`` row owned by (host, pid), its heartbeat set to ``started_at``; returns its id
    (``wait``: see :meth:`MarketStore.transaction`)."""
    with store.transaction(wait=wait) as conn:
        cur = conn.execute(
            "INSERT INTO job_runs (job, started_at, status, host, pid, heartbeat_at, day) "
            "VALUES (?, ?, 'running', ?, ?, ?, ?)",
            (job, started_at, host, pid, started_at, day))
        return int(cur.lastrowid)


def finish(store: MarketStore, run_id: int, finished_at: str, status: str, metrics: str, error: str | None) -> None:
    """Close a run with its status, metrics (JSON) and error."""
    with store.transaction() as conn:
        conn.execute("UPDATE job_runs SET finished_at = ?, status = ?, metrics = ?, error = ? WHERE id = ?",
                     (finished_at, status, metrics, error, run_id))


def set_day(store: MarketStore, run_id: int, day: int) -> None:
    """Record the trading day a run turned out to be for."""
    with store.transaction() as conn:
        conn.execute("UPDATE job_runs SET day = ? WHERE id = ?", (day, run_id))


def last(store: MarketStore, limit: int, job: str | None = None) -> list[tuple]:
    """The newest ``limit`` rows (:data:`COLUMNS`), of ``job`` only when given, newest first."""
    where, params = ("WHERE job = ?", (job, limit)) if job else ("", (limit,))
    return store.conn.execute(f"SELECT {COLUMNS} FROM job_runs {where} ORDER BY id DESC LIMIT ?", params).fetchall()


def for_day(store: MarketStore, job: str, day: int) -> tuple | None:
    """The newest row (:data:`COLUMNS`) of ``job`` for the trading day ``day``, or None."""
    return store.conn.execute(f"SELECT {COLUMNS} FROM job_runs WHERE job = ? AND day = ? ORDER BY id DESC LIMIT 1",
                              (job, day)).fetchone()


def running(store: MarketStore) -> list[tuple[int, str | None, int | None, str | None]]:
    """(id, host, pid, last heartbeat or start) of every run still marked ``running``."""
    with store.lock:
        return store.conn.execute(
            "SELECT id, host, pid, COALESCE(heartbeat_at, started_at) FROM job_runs WHERE status = 'running'"
        ).fetchall()


def fail_running(store: MarketStore, run_ids: list[int], finished_at: str, error: str) -> int:
    """Mark those of ``run_ids`` still ``running`` as failed with ``error``; returns how many changed."""
    with store.transaction() as conn:
        cur = conn.executemany(
            "UPDATE job_runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ? AND status = 'running'",
            [(finished_at, error, run_id) for run_id in run_ids])
        return cur.rowcount


def beat(path: Path, run_ids: list[int], stamp: str, timeout: float = 2.0) -> None:
    """Refresh the heartbeat of those of ``run_ids`` still running in the store at ``path``, through a
    connection of its own with a short busy ``timeout`` (the heartbeat thread's: a locked store delays a
    beat, never a run). Raises :class:`sqlite3.Error` when the store cannot be written now."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        conn.executemany("UPDATE job_runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                         [(stamp, run_id) for run_id in run_ids])
    finally:
        conn.close()
