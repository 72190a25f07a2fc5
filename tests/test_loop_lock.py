"""One daily loop per store (issue 22) and the temporary files killed processes leave (issue 22, item 3).

A second loop — `kstock daily`, `kstock score`, the bot's jobs — waits a few seconds for the first, then
says "이미 실행 중" and changes nothing; a lock whose process was killed blocks nobody. Every command that
opens the store removes the temporary files of caches and models whose writer is gone, never a live one's.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kstock.service import daily, loop_lock
from kstock.service.loop_lock import LoopBusyError
from support.workspace import REPO

pytestmark = pytest.mark.faults


def _clock(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return json.loads(conn.execute("SELECT value FROM meta WHERE key = 'synthetic_market'").fetchone()[0])["today"]
    finally:
        conn.close()


def _runs(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM job_runs").fetchone()[0]
    finally:
        conn.close()


def test_a_second_loop_says_already_running_and_changes_nothing(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_lock, "LOCK_WAIT_S", 0.3)
    db = cli.root / "s.db"
    clock, runs = _clock(db), _runs(db)
    with loop_lock.loop_lock(db):  # another front door holds the loop (a separate open file: flock excludes it)
        started = time.monotonic()
        rc, out, err = cli("daily")
        assert rc == 75 and out == "" and "이미 실행 중" in err and "Traceback" not in err
        assert time.monotonic() - started < 5  # a bounded wait, not the whole other loop
        rc, out, err = cli("score")
        assert rc == 1 and "이미 실행 중" in err
        rc, out, err = cli("data", "update")  # it would move the synthetic clock under the loop
        assert rc == 1 and "이미 실행 중" in err
    assert (_clock(db), _runs(db)) == (clock, runs)  # nothing fetched, scored or recorded
    rc, out, err = cli("daily")  # the lock released: the loop runs
    assert rc == 0 and "채점: 완료" in out and _clock(db) > clock


def test_the_bots_steps_take_the_same_lock(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_lock, "LOCK_WAIT_S", 0.2)
    root, services = workspace
    with loop_lock.loop_lock(root / "s.db"):
        for step in (daily.update_today, daily.score_today, daily.score_now, daily.run_daily):
            with pytest.raises(LoopBusyError, match="이미 실행 중"):
                step(services)
    _day, update = daily.update_today(services)
    assert update.status == "ok" and daily.score_today(services)[2].status == "ok"


def test_a_second_loop_waits_for_a_short_first_one(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_lock, "LOCK_WAIT_S", 10.0)
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with loop_lock.loop_lock(cli.root / "s.db"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(5)
    threading.Timer(0.5, release.set).start()
    rc, out, _ = cli("daily")
    thread.join()
    assert rc == 0 and "채점: 완료" in out


HOLD_LOCK = """
import sys, time
from pathlib import Path
from kstock.service.loop_lock import loop_lock
with loop_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_lock_held_by_a_killed_process_blocks_nobody(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_lock, "LOCK_WAIT_S", 0.5)
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(cli.root / "s.db")], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert proc.stdout.readline().strip() == "held"
        assert cli("daily")[0] == 75  # held by a live process
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    rc, out, _ = cli("daily")
    assert rc == 0 and "채점: 완료" in out


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_every_command_removes_the_temporary_files_of_killed_processes_only(cli, tmp_path: Path) -> None:
    root, dead = cli.root, _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gone = [root / f"s.db.window.npz.{dead}.tmp", root / f"s.db.day.npz.{dead}.tmp",
                root / "models" / f".kstock-write-test-{dead}",
                root / "models" / ".checkpoints" / "sector" / f"phase1.pt.{dead}.tmp",
                root / "models" / f"lstm_stock.pt.{dead}.tmp", root / "s.db.window.npz.tmp"]
        kept = [root / f"s.db.window.npz.{live.pid}.tmp",  # a live writer's
                root / "models" / ".checkpoints" / "sector" / "phase2.pt.tmp",  # no pid, and fresh
                root / f"other.db.window.npz.{dead}.tmp"]  # another store's (its own commands clean it)
        for path in gone + kept:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"half")
        hour_ago = time.time() - 7200
        os.utime(root / "s.db.window.npz.tmp", (hour_ago, hour_ago))  # no pid, but abandoned long ago
        model_tmp = root / "models" / "trees" / f".tmp-20990101T000000000000-{dead}"
        model_tmp.mkdir()
        (model_tmp / "lgb_rank.txt").write_text("half")
        rc, _, err = cli("data", "status")  # a read-only command opens the store too
        assert rc == 0 and "Traceback" not in err
        assert [p.name for p in gone if p.exists()] == [] and not model_tmp.exists()
        assert [p.name for p in kept if not p.exists()] == []
    finally:
        live.kill()
        live.wait()
