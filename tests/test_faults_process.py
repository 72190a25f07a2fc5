"""Faults that need a real process: ``kstock train`` killed with SIGKILL in the middle of a retrain and the bot
started again on the same store and models, and kstock run where ``import torch`` fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kstock.ml.models import TORCH_MISSING
from kstock.ml.registry import ModelRegistry
from support.fake_telegram import FakeTelegramServer
from support.faults import (
    ADMIN,
    SRC,
    TRAIN_UNTIL_KILLED,
    assert_answers,
    assert_serving,
    job_runs,
    retrain_reply,
    root_fixture,
    serving_version,
    start_bot,
    tg_fixture,
)
from support.stores import data_checksum

root, tg = root_fixture, tg_fixture  # the suite's shared fixtures: a market copy, the fake Telegram server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def _env(root: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": str(SRC),
            "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models"), **extra}


@pytest.mark.parametrize("phase", ["fit", "save"])
def test_retrain_killed_midway_serves_the_old_model_and_the_restart_recovers(
    phase: str, root: Path, tg: FakeTelegramServer, tmp_path: Path
) -> None:
    version, before = serving_version(root), data_checksum(root / "s.db")
    marker, log = tmp_path / "reached", tmp_path / "train.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", TRAIN_UNTIL_KILLED, phase, str(marker), str(root / "s.db")],
                                cwd=tmp_path, env=_env(root), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and job_runs(root, "retrain:trees")[-1][0] == "running"):
            assert proc.poll() is None, f"the retrain ended before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert "trees: 학습 기간" in log.read_text()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    trees = root / "models" / "trees"
    half = [p for p in trees.iterdir() if p.name.startswith(".tmp-")]
    if phase == "save":  # killed mid-save: model files written, manifest not — and invisible to the registry
        assert len(half) == 1 and (half[0] / "lgb_rank.txt").exists() and not (half[0] / "meta.json").exists()
    else:
        assert half == []
    assert_serving(root, version)  # CURRENT still names the old version, whose files all verify
    assert ModelRegistry(root / "models").versions("trees") == [version]
    assert job_runs(root, "retrain:trees")[-1] == ("running", None)  # what the killed process left

    env = start_bot(tg, root)  # started again: the interrupted run is marked failed at start-up
    try:
        status, error = job_runs(root, "retrain:trees")[-1]
        assert status == "failed" and "중단됨" in (error or "")
        shown = env.ask(ADMIN, "/status").text
        assert "`retrain:trees` 실패" in shown and "중단됨" in shown, shown  # admins get the job and its error
        assert_answers(env, 841)  # served by the old model meanwhile
        done = retrain_reply(env)  # and a new retrain goes through
        assert "교체됨" in done, done
        assert job_runs(root, "retrain:trees")[-1] == ("ok", None)
        assert_serving(root, serving_version(root))
        assert serving_version(root) != version
        assert not [p for p in trees.iterdir() if p.name.startswith(".tmp-")]  # the half-written folder is gone
    finally:
        env.stop()
    assert data_checksum(root / "s.db") == before


#: Imports fail for ``torch`` the way they do where it is not installed (a package shadowing the real one).
NO_TORCH = 'raise ImportError("No module named \'torch\' (hidden by the kstock fault suite)")\n'

CLI_WITHOUT_TORCH = textwrap.dedent("""
    import sys
    from kstock.cli import main

    for argv in (["models", "--json"], ["analyze", "005930", "--json"], ["score"], ["train", "lstm"]):
        print("=== " + " ".join(argv), flush=True)
        print(f"rc={main(argv)}", flush=True)
    print("=== torch imported")
    print(sys.modules.get("torch") is not None)
""")


def test_without_torch_the_cli_serves_trees_and_says_the_deep_models_are_unavailable(root: Path,
                                                                                     tmp_path: Path) -> None:
    registry = ModelRegistry(root / "models")
    lstm = registry.save("lstm", lambda folder: (folder / "lstm.pt").write_bytes(b"trained where torch was"), {})
    registry.promote(lstm)  # an LSTM is serving — but this process cannot load it
    trees, before = serving_version(root), data_checksum(root / "s.db")
    shadow = tmp_path / "no-torch"
    (shadow / "torch").mkdir(parents=True)
    (shadow / "torch" / "__init__.py").write_text(NO_TORCH)

    env = _env(root, PYTHONPATH=os.pathsep.join([str(shadow), str(SRC)]))
    proc = subprocess.run([sys.executable, "-c", CLI_WITHOUT_TORCH], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    parts = dict(p.split("\n", 1) for p in proc.stdout.split("=== ")[1:])

    models = {row["name"]: row for row in json.loads(parts["models --json"].rsplit("rc=", 1)[0])}
    assert models["trees"]["available"] and models["trees"]["version"] == trees
    for name in ("lstm", "sector"):
        assert not models[name]["available"] and models[name]["reason"] == TORCH_MISSING
    assert parts["models --json"].rstrip().endswith("rc=0")

    analysis = json.loads(parts["analyze 005930 --json"].rsplit("rc=", 1)[0])
    assert analysis["label"] in ("BUY", "HOLD", "SELL") and analysis["probability"] is not None
    assert analysis["model_versions"] == {"trees": trees}
    assert analysis["unavailable"] == {"lstm": TORCH_MISSING, "sector": TORCH_MISSING}
    assert parts["analyze 005930 --json"].rstrip().endswith("rc=0")

    assert "종목 채점" in parts["score"] and "`trees`" in parts["score"] and parts["score"].rstrip().endswith("rc=0")
    train = parts["train lstm"]
    assert "lstm: 실패" in train and "torch가 설치되지 않음" in train and "서비스 중인 모델은 그대로" in train
    assert train.rstrip().endswith("rc=1")
    assert parts["torch imported"].strip() == "False"

    assert registry.pointer("lstm") == lstm.version  # the LSTM is not dropped for lack of torch here
    assert_serving(root, trees)
    assert data_checksum(root / "s.db") == before
