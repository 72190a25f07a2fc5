"""Job runs recorded in the store: start, end, status, metrics, error — what `/status` shows.

A run still marked ``running`` when the process starts again was interrupted (killed mid-retrain);
:func:`mark_interrupted` marks it failed so nobody mistakes it for a live job.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from kstock.market.store import MarketStore


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class JobRun:
    id: int
    job: str
    started_at: str
    finished_at: str | None
    status: str  # running / ok / kept / failed / skipped
    metrics: dict[str, Any]
    error: str | None


def start_run(store: MarketStore, job: str) -> int:
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO job_runs (job, started_at, status) VALUES (?, ?, 'running')", (job, _now()))
        return int(cur.lastrowid)


def finish_run(store: MarketStore, run_id: int, status: str, metrics: dict[str, Any] | None = None,
               error: str | None = None) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, metrics = ?, error = ? WHERE id = ?",
            (_now(), status, json.dumps(metrics or {}, ensure_ascii=False, default=str), error, run_id),
        )


def last_runs(store: MarketStore, limit: int = 10, job: str | None = None) -> list[JobRun]:
    where, params = ("WHERE job = ?", (job, limit)) if job else ("", (limit,))
    rows = store.conn.execute(
        f"SELECT id, job, started_at, finished_at, status, metrics, error FROM job_runs {where} "
        "ORDER BY id DESC LIMIT ?", params,
    ).fetchall()
    return [JobRun(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else {}, r[6]) for r in rows]


def mark_interrupted(store: MarketStore) -> int:
    """Runs left 'running' by a killed process become 'failed' with a reason; returns how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE job_runs SET status = 'failed', finished_at = ?, "
            "error = 'interrupted: the process stopped before the run finished' WHERE status = 'running'",
            (_now(),),
        )
        return cur.rowcount
