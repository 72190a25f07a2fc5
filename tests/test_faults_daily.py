"""Exactly once under kills and two front doors (issue 22): `kstock daily` on a synthetic store, killed with
SIGKILL at every step boundary and at random moments, re-run until the day is done, publishes exactly the
books and days of a run without kills — no day skipped, no stall, no step done twice; two loops started
together publish the books of loops run one after the other; a second loop waits a few seconds, then says
"이미 실행 중" and does nothing; a lock held by a killed process blocks nobody.

The kill points are set from outside the product: the child process wraps one function of kstock so that
its n-th call kills the process before or after it runs (``KILL_AT``), then runs `kstock daily`.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kstock.cli import main
from support.workspace import REPO, copy_workspace

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]

SRC = REPO / "src"
DAYS = 10
BUSY_EXIT = 75

#: Each boundary of the loop: (module, function, before/after its call, which call). The comments say what
#: a kill there leaves in the store.
POINTS = {
    "update started": ("kstock.service.runs", "start_run", "after", 1),  # a running update, nothing fetched
    "rows stored, clock not moved": ("kstock.market.sources", "_save_spec", "before", 1),
    "clock moved, update not recorded": ("kstock.service.runs", "finish_run", "before", 1),
    "update done": ("kstock.service.daily", "update_step", "after", 1),
    "scoring started": ("kstock.service.daily", "score_market", "before", 1),
    "book stored, scoring not recorded": ("kstock.service.runs", "finish_run", "before", 2),
    "scoring recorded, day cache not written": ("kstock.service.stored_day", "save", "before", 1),
    "loop done": ("kstock.service.daily", "score_step", "after", 1),
}

#: `kstock daily` with one function wrapped to SIGKILL the process at its n-th call (argv: module function
#: before|after n), or plain with no arguments.
KILLED_DAILY = textwrap.dedent("""
    import functools, importlib, os, signal, sys

    if len(sys.argv) > 1:
        module, name, when, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        target = importlib.import_module(module)
        real, calls = getattr(target, name), [0]

        @functools.wraps(real)
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == nth and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            out = real(*args, **kwargs)
            if calls[0] == nth and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        setattr(target, name, wrapped)
    from kstock.cli import main
    sys.exit(main(["daily", "--no-progress"]))
""")


def _env(root: Path) -> dict[str, str]:
    """The child's environment: the store and models of ``root``, and no torch (the golden models are trees;
    importing torch would take most of each short run)."""
    shadow = root / "no_torch"
    if not (shadow / "torch" / "__init__.py").exists():
        (shadow / "torch").mkdir(parents=True, exist_ok=True)
        (shadow / "torch" / "__init__.py").write_text('raise ImportError("torch hidden by the daily fault suite")\n')
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
            "PYTHONPATH": os.pathsep.join([str(shadow), str(SRC)]), "KSTOCK_DB": str(root / "s.db"),
            "KSTOCK_MODEL_DIR": str(root / "models"), "OMP_NUM_THREADS": "1"}


def _start(root: Path, *kill_at: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILLED_DAILY, *map(str, kill_at)], cwd=root, env=_env(root),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _query(root: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(root / "s.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _clock(root: Path) -> str:
    import json

    return json.loads(_query(root, "SELECT value FROM meta WHERE key = 'synthetic_market'")[0][0])["today"]


def _scored(root: Path, day: str) -> bool:
    return bool(_query(root, "SELECT 1 FROM job_runs WHERE job = 'score' AND status = 'ok' AND day = ?",
                       int(day.replace("-", ""))))


def _published(root: Path) -> dict[str, list[tuple]]:
    """What subscribers and the ledger see: each published day's book, its publication and its calls."""
    days = [r[0] for r in _query(root, "SELECT date FROM publications ORDER BY date")]
    out = {}
    for day in days:
        out[str(day)] = [
            _query(root, "SELECT data_date, stale, versions FROM publications WHERE date = ?", day),
            _query(root, "SELECT side, code, rank, entry, entry_date, score, traded_value_20d, close, "
                         "expected_excess, hit_rate, samples FROM book WHERE date = ? ORDER BY side, rank", day),
            _query(root, "SELECT code, label, probability, score, rank FROM signals WHERE date = ? ORDER BY code",
                   day),
        ]
    return out


def _ok_runs(root: Path) -> list[tuple]:
    """(job, day, how many ok runs) of the loop's steps."""
    return _query(root, "SELECT job, day, COUNT(*) FROM job_runs WHERE job IN ('update', 'score') AND "
                        "status = 'ok' GROUP BY job, day ORDER BY day, job")


@pytest.fixture(scope="module")
def clean_run(synth_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict, list]:
    """The reference: DAYS runs of `kstock daily` one after the other, no kill — (days, books, ok runs)."""
    root = copy_workspace(synth_golden, tmp_path_factory.mktemp("clean"))
    days = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("KSTOCK_DB", "KSTOCK_MODEL_DIR"):
            mp.setenv(name, _env(root)[name])
        for _ in range(DAYS):
            assert main(["daily", "--no-progress"]) == 0
            days.append(_clock(root))
    assert len(set(days)) == DAYS and days == sorted(days)
    return days, _published(root), _ok_runs(root)


def test_kills_at_every_step_boundary_and_at_random_moments_publish_the_clean_runs_books(
        clean_run: tuple, synth_golden: Path, tmp_path: Path) -> None:
    days, books, ok_runs = clean_run
    root = copy_workspace(synth_golden, tmp_path / "killed")
    plan: list[tuple | None] = [*POINTS.values(), None, None]  # None: a kill at a random moment
    assert len(plan) == DAYS
    rng = random.Random(22)
    took = 8.0  # seconds a whole run takes here (measured below on each completing run)
    for day, point in zip(days, plan, strict=True):
        if point is None:
            proc = _start(root)
            time.sleep(rng.uniform(0.5, took))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=120)
        else:
            proc = _start(root, *point)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == -signal.SIGKILL, f"{point} was never reached: {err[-2000:]}"
        reruns = 0
        while not _scored(root, day):  # re-run until the day is done: once must be enough (no stall)
            assert reruns < 2, f"{day} is not done after a kill at {point} and {reruns} re-runs"
            started = time.monotonic()
            proc = _start(root)
            out, err = proc.communicate(timeout=120)
            took = time.monotonic() - started
            assert proc.returncode == 0, f"after a kill at {point}: {out}\n{err[-2000:]}"
            assert "Traceback" not in err
            reruns += 1
        assert _clock(root) == day, f"after a kill at {point}: the market is at {_clock(root)}, not {day}"
    assert _published(root) == books  # every day, every book, every call: as without kills
    assert _ok_runs(root) == ok_runs  # each step of each day recorded done once
    assert {count for _job, _day, count in ok_runs} == {1}
    # a cache file a kill cut short is removed by the next command that opens the store
    status = subprocess.run([sys.executable, "-m", "kstock", "data", "status"], cwd=root, env=_env(root),
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]


def test_two_loops_started_together_publish_the_books_of_loops_run_one_after_the_other(
        clean_run: tuple, synth_golden: Path, tmp_path: Path) -> None:
    days, books, _ = clean_run
    root = copy_workspace(synth_golden, tmp_path / "together")
    outcomes = []
    for _ in range(3):
        pair = [_start(root), _start(root)]
        for proc in pair:
            out, err = proc.communicate(timeout=180)
            outcomes.append(proc.returncode)
            assert proc.returncode in (0, BUSY_EXIT), f"{out}\n{err[-2000:]}"
            if proc.returncode == BUSY_EXIT:
                assert "이미 실행 중" in err and "Traceback" not in err and out == ""
    published = _published(root)
    n = len(published)
    assert n == outcomes.count(0) >= 3  # each loop that ran published one new day; the other did nothing
    assert published == {day: books[day] for day in list(books)[:n]}  # the same days and books, in order
    assert _clock(root) == days[n - 1]
    assert {count for _job, _day, count in _ok_runs(root)} == {1}  # no step of a day ran twice


def test_a_kill_while_the_window_cache_is_written_leaves_no_file_for_good(synth_golden: Path, tmp_path: Path) -> None:
    root = copy_workspace(synth_golden, tmp_path / "cache")
    proc = _start(root, "os", "replace", "before", 1)  # the first rename of a run: the serving window's cache
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    left = [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith("s.db.window.npz."), left  # what the issue found left for good
    proc = _start(root)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "채점: 완료" in out, err[-2000:]
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
