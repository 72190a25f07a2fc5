"""Run ownership (issue 12): a ``running`` run is declared interrupted only when its owner is really gone, and
write failures from any library read as one Korean line without traces or paths."""

from __future__ import annotations

import datetime as dt
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kstock.errors import WRITE_FAILED_KO, is_write_failure, public_reason, public_text
from kstock.market.store import MarketStore, StoreError
from kstock.procs import pid_alive
from kstock.service import runs

NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def _running(store: MarketStore, host: str | None, pid: int | None, beat: dt.datetime | None) -> int:
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO job_runs (job, started_at, status, host, pid, heartbeat_at) "
                           "VALUES ('retrain:trees', ?, 'running', ?, ?, ?)",
                           ((NOW - dt.timedelta(hours=1)).isoformat(), host, pid, beat.isoformat() if beat else None))
        return int(cur.lastrowid)


def _status(store: MarketStore, run_id: int) -> str:
    return store.conn.execute("SELECT status FROM job_runs WHERE id = ?", (run_id,)).fetchone()[0]


@pytest.fixture
def store(tmp_path: Path):
    with MarketStore(tmp_path / "s.db") as s:
        yield s


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_runs_whose_owner_is_gone_are_marked_interrupted(store: MarketStore) -> None:
    here, fresh, stale = runs.this_host(), NOW - dt.timedelta(minutes=1), NOW - dt.timedelta(hours=1)
    alive = _running(store, here, os.getppid(), fresh)  # a live process here, beating: its own business
    reused = _running(store, here, os.getppid(), stale)  # that pid lives, but no beat for an hour: pid reused
    dead = _running(store, here, _dead_pid(), fresh)  # same host, pid gone: interrupted at once
    elsewhere = _running(store, "another-host", 4242, fresh)  # another host, beating: left alone
    silent = _running(store, "another-host", 4242, stale)  # another host, no heartbeat for an hour
    legacy = _running(store, None, None, None)  # from before owners were recorded, started an hour ago
    assert runs.mark_interrupted(store, now=NOW) == 4
    assert [_status(store, r) for r in (alive, reused, dead, elsewhere, silent, legacy)] == [
        "running", "failed", "failed", "running", "failed", "failed"]


def test_own_runs_carry_owner_and_heartbeat_and_are_never_marked(store: MarketStore) -> None:
    run_id = runs.start_run(store, "score")
    host, pid, beat = store.conn.execute("SELECT host, pid, heartbeat_at FROM job_runs WHERE id = ?",
                                         (run_id,)).fetchone()
    assert (host, pid) == (runs.this_host(), os.getpid()) and beat
    assert runs.mark_interrupted(store) == 0
    runs.finish_run(store, run_id, "ok")
    assert _status(store, run_id) == "ok"


def test_the_heartbeat_refreshes_running_runs_only_and_a_locked_store_skips_a_beat(store: MarketStore) -> None:
    running, done = _running(store, runs.this_host(), os.getpid(), NOW), _running(store, None, None, NOW)
    runs.finish_run(store, done, "ok")
    beat = lambda r: store.conn.execute("SELECT heartbeat_at FROM job_runs WHERE id = ?", (r,)).fetchone()[0]  # noqa: E731
    runs._Heartbeat._beat(store.path, [running, done])
    assert beat(running) > NOW.isoformat() and beat(done) == NOW.isoformat()
    with store.transaction():  # another writer holds the store: the beat gives up quietly, the run goes on
        before = beat(running)
        runs._Heartbeat._beat(store.path, [running])
    assert beat(running) == before


def test_pid_alive() -> None:
    assert pid_alive(os.getpid()) and not pid_alive(_dead_pid()) and not pid_alive(0)


def test_read_only_store_writes_nothing(tmp_path: Path) -> None:
    MarketStore(tmp_path / "s.db").close()
    with MarketStore(tmp_path / "s.db", readonly=True) as ro:
        assert runs.last_runs(ro) == []
        with pytest.raises(Exception, match=r"readonly|read-only"):
            ro.conn.execute("INSERT INTO meta VALUES ('x', 'y')")
    with pytest.raises(StoreError, match="없습니다"):
        MarketStore(tmp_path / "typo.db", readonly=True)
    assert not (tmp_path / "typo.db").exists()


def test_a_store_from_an_older_kstock_is_upgraded_once_then_read(tmp_path: Path) -> None:
    import sqlite3

    from kstock.market.migrations import LATEST_VERSION, MIGRATIONS

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.executescript(f"BEGIN;{MIGRATIONS[0][1]}PRAGMA user_version = 1;COMMIT;")
    conn.close()
    with MarketStore(tmp_path / "old.db", readonly=True) as ro:
        assert ro.schema_version == LATEST_VERSION and runs.last_runs(ro) == []


XGB_TEXT = ("[12:00:01] /__w/xgboost/src/io/local_filesys.cc:37: Check failed: std::fwrite(ptr, 1, size, fp_) == size: "
            "FileStream.Write incomplete\nStack trace:\n  [bt] (0) /srv/kstock/.venv/lib/libxgboost.so(+0x2c1a8c)")


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device", "/srv/kstock/models/trees/x.txt"),
    OSError(errno.EFBIG, "File too large"),
    RuntimeError(XGB_TEXT),
    RuntimeError("Cannot write binary data to /srv/kstock/models/trees/lgb_rank.txt, wrote 0 of 7200 bytes"),
    RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed writing file data/0: "
                 "file write failed"),
])
def test_write_failures_of_any_library_are_one_korean_line(exc: BaseException) -> None:
    assert is_write_failure(exc)
    assert public_reason(exc) == WRITE_FAILED_KO


def test_public_text_drops_traces_and_paths() -> None:
    shown = public_text(XGB_TEXT)
    assert "Stack trace" not in shown and "[bt]" not in shown and "/srv" not in shown and "\n" not in shown
    assert not is_write_failure(ValueError("bad value"))
    long = public_reason(ValueError("x" * 500))
    assert long.startswith("ValueError: x") and len(long) <= 200
