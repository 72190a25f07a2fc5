"""Issue 22, item 4 on the command line, each as a real ``kstock`` process:

- a ``KSTOCK_DB`` that is not a kstock store (``/dev/null``, an empty file nobody may write, a read-only store
  of an older schema) ends in one clear line — never a traceback or "no such table";
- output files (``--json FILE``, ``--chart FILE``) are checked before the work, not after a whole evaluation;
- a reader that goes away (``| head``) ends the command quietly.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kstock.market.migrations import MIGRATIONS
from support.faults import READ_ONLY_SQLITE, SRC, root_fixture

root = root_fixture  # the suite's shared fixture: a copy of the trained market

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def _env(root: Path, db: Path, pythonpath: str = str(SRC)) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": pythonpath,
            "KSTOCK_DB": str(db), "KSTOCK_MODEL_DIR": str(root / "models")}


def _kstock(root: Path, argv: list[str], db: Path | None = None, pythonpath: str = str(SRC)
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kstock", *argv], cwd=root, capture_output=True, text=True,
                          env=_env(root, db or root / "s.db", pythonpath), timeout=240)


def _one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 1 with one ``kstock: 오류:`` line that holds ``words``, and nothing else on stderr."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("kstock: 오류:"), done.stderr
    assert "Traceback" not in done.stderr and "no such table" not in done.stderr, done.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


@pytest.fixture
def read_only(tmp_path: Path) -> str:
    """PYTHONPATH that makes every SQLite connection read-only, as on a read-only (or immutable) file."""
    shim = tmp_path / "read-only-sqlite"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(READ_ONLY_SQLITE)
    return os.pathsep.join([str(shim), str(SRC)])


@pytest.mark.parametrize("argv", [["data", "status"], ["data", "status", "--json"], ["performance"], ["signals"]])
def test_dev_null_is_not_a_store(root: Path, argv: list[str]) -> None:
    _one_line(_kstock(root, argv, Path(os.devnull)), os.devnull, "일반 파일이 아니")


@pytest.mark.parametrize("argv", [["data", "status"], ["performance"], ["models"]])
def test_an_empty_file_nobody_may_write_is_not_a_store(root: Path, tmp_path: Path, read_only: str,
                                                       argv: list[str]) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    _one_line(_kstock(root, argv, empty, read_only), "kstock 저장소가 아닙니다")
    assert empty.stat().st_size == 0  # nothing was written into it


def test_a_read_only_store_of_an_older_schema_says_so(root: Path, tmp_path: Path, read_only: str) -> None:
    old = tmp_path / "v2.db"
    conn = sqlite3.connect(old, isolation_level=None)
    conn.executescript(f"BEGIN;{MIGRATIONS[0][1]}{MIGRATIONS[1][1]}PRAGMA user_version = 2;COMMIT;")
    conn.close()
    for argv in (["performance"], ["data", "status"], ["signals"]):
        _one_line(_kstock(root, argv, old, read_only), "스키마 v2")
    done = _kstock(root, ["data", "status"], old)  # where it may be written, it is upgraded and read
    assert done.returncode == 0 and f"스키마 {MIGRATIONS[-1][0]}판" in done.stdout, done.stderr


def _unwritable() -> Path:
    """A path no one may write, even root (the kernel refuses writes to /proc/version)."""
    path = Path("/proc/version")
    if not path.exists():
        pytest.skip("no /proc here")
    return path


def test_output_files_are_checked_before_the_work(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    cases = [(["evaluate", "--model", "trees", "--folds", "2", "--json", str(folder)], "폴더입니다"),
             (["evaluate", "--model", "trees", "--folds", "2", "--chart", str(folder)], "폴더입니다"),
             (["evaluate", "--model", "trees", "--folds", "2", "--json", str(_unwritable())], "쓸 수 없습니다"),
             (["evaluate", "--model", "trees", "--folds", "2", "--chart", str(_unwritable())], "쓸 수 없습니다"),
             (["analyze", "005930", "--chart", str(_unwritable())], "쓸 수 없습니다"),
             (["performance", "--chart", str(_unwritable())], "쓸 수 없습니다")]
    for argv, words in cases:
        done = _kstock(root, argv)
        _one_line(done, words)
        assert "fold" not in done.stderr.lower().replace("folder", ""), done.stderr  # no evaluation ran first
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("argv", [["signals"], ["data", "status", "--json"], ["models"], ["lookup", "삼"]])
def test_a_closed_pipe_ends_the_command_quietly(root: Path, argv: list[str]) -> None:
    if argv == ["signals"]:
        assert _kstock(root, ["score"]).returncode == 0  # a book to print
    proc = subprocess.Popen([sys.executable, "-m", "kstock", *argv], cwd=root, env=_env(root, root / "s.db"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command prints (`kstock signals | head -0`)
    err = proc.stderr.read().decode()
    proc.wait(240)
    assert err == "", err  # no BrokenPipeError, no "Exception ignored"
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell shows for `cat` cut short
