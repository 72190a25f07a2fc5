"""The wheel ships kstock and nothing of the tests: the fake Bot API and the shared test helpers live under
``tests/support/`` and must never be importable from an installed kstock."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
#: Names that only test doubles carry (the fake server, the bot harness, the old in-src package).
DOUBLE_MARKERS = ("FakeTelegramServer", "BotHarness", "kstock.testing", "support.fake_telegram")


def test_src_packages_are_kstock_only() -> None:
    """What setuptools' ``packages.find`` (where = src) picks up: kstock and its subpackages, no test doubles."""
    packages = find_packages(where=str(SRC))
    assert "kstock" in packages
    assert all(p == "kstock" or p.startswith("kstock.") for p in packages), packages
    assert not [p for p in packages if "testing" in p or "fake" in p], packages


def test_no_source_module_defines_or_imports_a_test_double() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {marker}"
        for path in sorted(SRC.rglob("*.py"))
        for marker in DOUBLE_MARKERS
        if marker in path.read_text(encoding="utf-8")
    ]
    assert not offenders


def test_built_wheel_holds_no_test_doubles(tmp_path: Path) -> None:
    """Build the wheel from a clean copy (a stale ``build/`` in the tree could carry removed modules) and list it."""
    work = tmp_path / "tree"
    shutil.copytree(SRC, work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, work / name)
    out = tmp_path / "wheel"
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{done.stderr[-2000:]}")
    (wheel,) = out.glob("kstock-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = [n for n in names if n.endswith(".py")]
    assert "kstock/__init__.py" in modules
    assert all(n.startswith("kstock/") for n in modules), [n for n in modules if not n.startswith("kstock/")]
    assert not [n for n in names if "testing/" in n or "fake_telegram" in n or "support/" in n]
