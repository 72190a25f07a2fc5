"""Issue 12, items 1 and 2: the store between processes.

1. A store locked by another writer freezes nobody: ``/subscribe`` waits for it in a worker thread and ends
   with "잠시 후 다시", while ``/help`` from another user is answered at once.
2. Run ownership: a live ``kstock train`` in another process is never marked failed by a read command, the
   read commands (``analyze``, ``signals``, ``models``, ``lookup``, ``data status``) write nothing — they run
   on a store SQLite may not write — and only once the training process is really gone is its run marked
   interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.fake_telegram import FakeTelegramServer
from support.faults import (
    ADMIN,
    READ_ONLY_SQLITE,
    SRC,
    TRAIN_UNTIL_KILLED,
    job_runs,
    root_fixture,
    serving_version,
    start_bot,
    tg_fixture,
)
from support.stores import data_checksum

root, tg = root_fixture, tg_fixture  # the suite's shared fixtures: a market copy, the fake Telegram server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def _subscriptions(db: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT chat_id, active FROM subscriptions ORDER BY chat_id").fetchall()
    finally:
        conn.close()


def _clean(text: str, root: Path) -> None:
    """A chat text for people: no traceback, no server path, no English exception text."""
    assert "Traceback" not in text and str(root) not in text and "/" not in text.replace("/help", ""), text
    assert "locked" not in text and "Error" not in text, text


def test_locked_store_answers_wait_a_moment_and_freezes_nobody(root: Path, tg: FakeTelegramServer) -> None:
    db = root / "s.db"
    before, subs_before = data_checksum(db), _subscriptions(db)
    env = start_bot(tg, root)
    other = sqlite3.connect(db, isolation_level=None)  # another writer, e.g. `kstock data import`
    other.execute("BEGIN EXCLUSIVE")
    try:
        sent_at = time.monotonic()
        waiting = {chat: env.send(chat, command) for chat, command in ((811, "/subscribe"), (812, "/unsubscribe"),
                                                                       (813, "/subscribe"), (814, "/subscribe"))}
        time.sleep(0.3)  # they are now waiting on the lock (at most INTERACTIVE_WAIT each, side by side)
        took = []
        for chat in range(821, 826):  # other users are answered meanwhile, at once
            started = time.monotonic()
            assert "사용법" in env.ask(chat, "/help", timeout=5).text
            took.append(time.monotonic() - started)
        assert max(took) < 1.0, took  # before the fix: the lock wait, on the event loop, for everyone
        for chat, since in waiting.items():
            reply = env.reply(chat, since, timeout=15)
            assert "잠시 후 다시" in reply.text, reply.text
            _clean(reply.text, root)
        assert time.monotonic() - sent_at < 8  # told within ~2 s each, not one full busy timeout after another
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        assert "구독했습니다" in env.ask(811, "/subscribe").text  # the lock is gone: the same request works
        assert _subscriptions(db) == [*subs_before, (811, 1)]
    finally:
        env.stop()
    assert data_checksum(db) == before


READ_COMMANDS = (["signals"], ["models", "--json"], ["analyze", "005930", "--json"], ["lookup", "삼성전자"],
                 ["data", "status"])


def _cli(root: Path, argv: list[str], pythonpath: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": pythonpath,
           "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models")}
    return subprocess.run([sys.executable, "-m", "kstock", *argv], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_read_commands_never_mark_a_live_run_and_write_nothing(root: Path, tg: FakeTelegramServer,
                                                              tmp_path: Path) -> None:
    db, version = root / "s.db", serving_version(root)
    before = data_checksum(db)
    shim = tmp_path / "read-only-sqlite"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(READ_ONLY_SQLITE)
    marker, log = tmp_path / "reached", tmp_path / "train.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": str(SRC),
           "KSTOCK_DB": str(db), "KSTOCK_MODEL_DIR": str(root / "models")}
    with log.open("w") as out:  # a live `kstock train trees` in another process, held in the middle of fitting
        train = subprocess.Popen([sys.executable, "-c", TRAIN_UNTIL_KILLED, "fit", str(marker), str(db)],
                                 cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and job_runs(root, "retrain:trees")[-1][0] == "running"):
            assert train.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        runs_before = job_runs(root, "retrain:trees")
        for argv in READ_COMMANDS:  # on a store SQLite may not write to
            done = _cli(root, argv, os.pathsep.join([str(shim), str(SRC)]))
            assert "Traceback" not in done.stderr and "readonly" not in done.stderr, (argv, done.stderr)
            assert done.returncode == 0 or argv == ["signals"], (argv, done.stderr)  # nothing scored yet
            assert job_runs(root, "retrain:trees") == runs_before, argv  # the live run is left alone
        models = {row["name"]: row for row in json.loads(_cli(root, ["models", "--json"], str(SRC)).stdout)}
        assert models["trees"]["version"] == version
        assert train.poll() is None  # the training goes on
    finally:
        os.kill(train.pid, signal.SIGKILL)
        train.wait(30)
    assert job_runs(root, "retrain:trees")[-1] == ("running", None)  # what the killed process left

    bot = start_bot(tg, root)  # a writer starting now finds the owner gone: now it is interrupted
    try:
        status, error = job_runs(root, "retrain:trees")[-1]
        assert status == "failed" and "중단됨" in (error or "")
        assert "중단됨" in bot.ask(ADMIN, "/status").text
    finally:
        bot.stop()
    assert data_checksum(db) == before


def _chattr(flag: str, *paths: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def test_read_commands_work_on_a_store_nobody_may_write(root: Path) -> None:
    """The store file and its folder immutable (``chattr +i``: not even root may write or create a ``-shm``)."""
    db = root / "s.db"
    before = data_checksum(db)
    if not _chattr("+i", db, root):
        pytest.skip("chattr +i is not available here")
    try:
        for argv in READ_COMMANDS:
            done = _cli(root, argv, str(SRC))
            assert "Traceback" not in done.stderr and "unable to open" not in done.stderr, (argv, done.stderr)
            assert done.returncode == 0 or (argv == ["signals"] and "kstock: 오류:" in done.stderr), (argv, done)
        models = {row["name"]: row for row in json.loads(_cli(root, ["models", "--json"], str(SRC)).stdout)}
        assert models["trees"]["available"]
    finally:
        _chattr("-i", db, root)
    assert data_checksum(db) == before
