"""Issue 12, items 3 and 4: the model files on disk.

3. A garbled serving pointer (``CURRENT`` holding bytes that are not UTF-8) is a corrupt pointer: the CLI and the
   bot serve the newest kept version whose checksums hold (saying why), and an admin retrain writes a new pointer.
4. A save that fails inside XGBoost or LightGBM (their native "write incomplete" errors, with a C++ stack trace
   and library paths) is reported to the admin as "디스크 공간 부족 또는 쓰기 실패" — no trace, no path — and
   nothing is promoted or left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstock.errors import WRITE_FAILED_KO
from kstock.ml.registry import ModelRegistry
from support.fake_telegram import FakeTelegramServer
from support.faults import (
    ADMIN,
    SRC,
    assert_answers,
    assert_serving,
    job_runs,
    retrain_reply,
    root_fixture,
    serving_version,
    start_bot,
    tg_fixture,
)
from support.models import truncate
from support.stores import data_checksum

root, tg = root_fixture, tg_fixture  # the suite's shared fixtures: a market copy, the fake Telegram server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

OLDER = "20000101T000000000000"  # a kept older version (a copy of the serving one, under an older name)
GARBAGE = b"\xff\xfe\x00garbage"


def _no_trace_or_path(text: str, root: Path) -> None:
    assert "Traceback" not in text and "Stack trace" not in text and "[bt]" not in text, text
    assert str(root) not in text and ".so" not in text and not re.search(r"/\w+/\w+", text), text


def _cli(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": str(SRC),
           "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models")}
    return subprocess.run([sys.executable, "-m", "kstock", *argv], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_garbled_pointer_serves_the_last_good_version_and_a_retrain_replaces_it(root: Path,
                                                                                 tg: FakeTelegramServer) -> None:
    trees = root / "models" / "trees"
    newest, before = serving_version(root), data_checksum(root / "s.db")
    shutil.copytree(trees / newest, trees / OLDER)  # the registry keeps older versions
    truncate(trees / newest / "lgb_rank.txt", 0.5)  # the newest one is broken: its checksum fails
    (trees / "CURRENT").write_bytes(GARBAGE)

    models = _cli(root, "models", "--json")
    assert models.returncode == 0 and "Traceback" not in models.stderr, models.stderr
    row = {r["name"]: r for r in json.loads(models.stdout)}["trees"]
    assert row["available"] and row["version"] == OLDER, row  # the older version whose checksums hold
    assert "CURRENT" in row["reason"] and "읽을 수 없음" in row["reason"], row
    analyze = _cli(root, "analyze", "005930")
    assert analyze.returncode == 0 and "Traceback" not in analyze.stderr, analyze.stderr
    assert "판단" in analyze.stdout or "005930" in analyze.stdout, analyze.stdout

    env = start_bot(tg, root)
    try:
        shown = env.ask(ADMIN, "/model").text
        assert OLDER in shown and "요청을 처리하는 중 오류" not in shown, shown
        assert_answers(env, 641)  # /analyze answers from the older version
        done = retrain_reply(env)
        assert "교체됨" in done or "유지" in done, done
        _no_trace_or_path(done, root)
        pointer = ModelRegistry(root / "models").pointer("trees")  # readable again, naming a good version:
        assert pointer == (OLDER if "유지" in done else serving_version(root)) and pointer != newest, pointer
        assert_serving(root, serving_version(root))
        assert job_runs(root, "retrain:trees")[-1][0] in ("ok", "kept")
    finally:
        env.stop()
    assert data_checksum(root / "s.db") == before


@pytest.fixture(params=["xgboost", "lightgbm"])
def full_disk_library(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The library's own ``save_model`` writes to /dev/full: its native "write incomplete" error, for real."""
    if request.param == "xgboost":
        import xgboost as xgb

        real = xgb.Booster.save_model
        monkeypatch.setattr(xgb.Booster, "save_model", lambda self, fname: real(self, "/dev/full"))
    else:
        import lightgbm as lgb

        real_lgb = lgb.Booster.save_model
        monkeypatch.setattr(lgb.Booster, "save_model",
                            lambda self, filename, *a, **k: real_lgb(self, "/dev/full", *a, **k))
    yield request.param


def test_library_write_failure_is_a_korean_disk_message_without_trace(full_disk_library: str, root: Path,
                                                                     tg: FakeTelegramServer) -> None:
    version, before = serving_version(root), data_checksum(root / "s.db")
    env = start_bot(tg, root)
    try:
        done = retrain_reply(env)
        assert "실패" in done and WRITE_FAILED_KO in done, done
        assert "서비스 중인 모델은 그대로" in done
        _no_trace_or_path(done, root)
        status, error = job_runs(root, "retrain:trees")[-1]
        assert status == "failed" and WRITE_FAILED_KO in (error or "")
        _no_trace_or_path(error or "", root)
        assert_serving(root, version)
        leftovers = [p.name for p in (root / "models" / "trees").iterdir() if p.name.startswith(".")]
        assert leftovers == []
        assert_answers(env, 651)
    finally:
        env.stop()
    assert data_checksum(root / "s.db") == before
