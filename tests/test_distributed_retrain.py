"""``torchrun`` with two CPU ranks (gloo): every rank trains the sector model, only rank 0 promotes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kstock.ml.registry import ModelRegistry
from support.workspace import REPO

pytest.importorskip("torch")

pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.timeout(300)]


def test_two_ranks_write_exactly_one_new_version(workspace) -> None:
    root, _ = workspace
    registry = ModelRegistry(root / "models")
    before = registry.versions("sector")
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}",
           "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(REPO / "tests" / "support" / "dist_retrain.py")],
        env=env, capture_output=True, text=True, timeout=280, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted((json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")),
                     key=lambda r: r["rank"])
    assert [r["rank"] for r in results] == [0, 1]
    assert results[1] == {"rank": 1, "status": "follower", "version": None}  # rank 1 wrote nothing
    new = sorted(set(registry.versions("sector")) - set(before))
    assert len(new) == 1, new  # one version for one distributed training
    if results[0]["status"] == "promoted":
        assert new == [results[0]["version"]] and registry.pointer("sector") == new[0]
    assert "Traceback" not in proc.stderr


def test_a_model_without_a_distributed_path_is_left_to_rank_0(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 1 of ``torchrun … train all`` trains no tree model (rank 0 does) and touches nothing."""
    from kstock.service.retrain import retrain

    root, services = workspace
    registry = ModelRegistry(root / "models")
    before = registry.versions("trees")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = retrain(services, "trees")
    assert result.status == "skipped" and "rank 0" in result.reason
    assert registry.versions("trees") == before
