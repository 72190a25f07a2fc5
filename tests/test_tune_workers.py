"""Two ``kstock tune trees`` workers started at the same moment on a fresh Optuna storage share one study."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.workspace import REPO

optuna = pytest.importorskip("optuna")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _start(root: Path, storage: str, go: Path, n: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}", "KSTOCK_TEST_GO": str(go),
           "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models"), "OMP_NUM_THREADS": "1"}
    log = open(root / f"tune{n}.log", "w")  # noqa: SIM115 - closed with the process below
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "support" / "fast_tune.py"), "tune", "trees",
                             "--trials", "2", "--storage", storage, "--study", "s1", "--end", "2025-03-31"],
                            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)


def test_two_workers_started_together_on_a_fresh_storage_share_one_study(workspace) -> None:
    root, _ = workspace
    storage = f"sqlite:///{root / 'optuna.db'}"  # does not exist yet: both workers find it fresh
    go = root / "go"
    workers = [_start(root, storage, go, n) for n in range(2)]
    time.sleep(8)  # both have imported and loaded the data, and wait at the start line
    go.touch()
    codes = [w.wait(timeout=250) for w in workers]
    logs = [(root / f"tune{n}.log").read_text() for n in range(2)]
    assert codes == [0, 0], logs
    for text in logs:
        assert "Traceback" not in text and "가장 좋은 순위 IC" in text, text
    study = optuna.load_study(study_name="s1", storage=storage)
    assert len(optuna.get_all_study_names(storage)) == 1  # the study was created once; the other worker joined
    trials = study.trials
    assert len(trials) == 4 and sorted(t.number for t in trials) == [0, 1, 2, 3]  # every trial recorded once
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_a_storage_url_that_is_not_one_is_refused_in_one_line(cli) -> None:
    rc, _out, err = cli("tune", "trees", "--trials", "1", "--storage", "nonsense")
    assert rc != 0 and "Traceback" not in err and "--storage" in err, err
