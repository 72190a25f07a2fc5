"""The model registry: promotion gate, atomic swap, corrupt artifacts, and retrain's failure paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kstock.errors import KstockError
from kstock.ml.registry import CURRENT_FILE, ModelRegistry, RegistryError
from kstock.service import retrain as retrain_mod
from kstock.service import runs
from kstock.service.analyze import analyze
from kstock.service.context import Services
from kstock.service.predict import NoModelError
from kstock.service.retrain import retrain
from kstock.service.status import models_status
from support.models import FailingTrees, InverseTrees, NanTrees, truncate, use_model
from support.workspace import fast_tree_options, synth_settings


# -- the gate -----------------------------------------------------------------------------------------
def test_gate_decisions(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    m = "rank_ic_mean"
    assert reg.gate("trees", {m: 0.05}, None, m).promote
    assert reg.gate("trees", {m: 0.05}, {m: float("nan")}, m).promote
    better = reg.gate("trees", {m: 0.06}, {m: 0.05}, m)
    assert better.promote and "교체했습니다" in better.reason
    assert reg.gate("trees", {m: 0.046}, {m: 0.05}, m, tolerance=0.005).promote  # within tolerance
    worse = reg.gate("trees", {m: 0.03}, {m: 0.05}, m, tolerance=0.005)
    assert not worse.promote and "넘게 나빠" in worse.reason and "그대로" in worse.reason
    nan = reg.gate("trees", {m: float("nan")}, None, m)
    assert not nan.promote and "값이 없어" in nan.reason
    assert not reg.gate("trees", {}, None, m).promote


# -- save / promote / prune ------------------------------------------------------------------------------
def write_file(text: str):
    def write(folder: Path) -> None:
        (folder / "model.txt").write_text(text)

    return write


def test_save_promote_and_keep_old_versions(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, keep=3)
    assert reg.current("m") is None and reg.versions("m") == [] and reg.names() == []
    saved = []
    for i in range(5):
        v = reg.save("m", write_file(str(i)), {"i": i})
        assert reg.current("m") is None or reg.current("m").version != v.version  # saved, not yet serving
        reg.promote(v)
        saved.append(v)
        assert reg.current("m").version == v.version
        assert (tmp_path / "m" / CURRENT_FILE).read_text() == v.version
        assert not (tmp_path / "m" / "CURRENT.tmp").exists()
    # the last `keep` versions stay on disk, the serving one among them
    assert reg.versions("m") == [v.version for v in saved[-3:]]
    current = reg.current("m")
    assert current.meta["i"] == 4 and current.trained_at and current.age_days() < 1
    assert (current.path / "model.txt").read_text() == "4"
    assert reg.names() == ["m"]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    good = reg.save("m", write_file("ok"), {})
    reg.promote(good)

    def explode(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise ValueError("writer crashed")

    with pytest.raises(ValueError, match="writer crashed"):
        reg.save("m", explode, {})

    def disk_full(folder: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(RegistryError, match="서비스 중인 모델은 그대로"):
        reg.save("m", disk_full, {})
    assert [p.name for p in (tmp_path / "m").iterdir() if p.name.startswith(".")] == []
    assert reg.versions("m") == [good.version]
    assert reg.current("m").version == good.version


def test_leftover_tmp_folder_is_never_served_and_is_pruned(workspace) -> None:
    root, services = workspace
    reg = services.registry
    serving_before = reg.current("trees").version
    leftover = root / "models" / "trees" / ".tmp-20990101T000000000000"
    leftover.mkdir()
    (leftover / "lgb_rank.txt").write_text("garbage from a process killed mid-save")
    assert leftover.name not in reg.versions("trees")
    served = services.serving("trees")
    assert served.model is not None and served.version.version == serving_before
    new = reg.save("trees", services.serving("trees").model.save, {"validation": {}})
    reg.promote(new)
    assert not leftover.exists()
    assert reg.current("trees").version == new.version
    assert serving_before in reg.versions("trees")  # the previous version is kept


# -- corrupt or missing artifacts: "unavailable", never a crash ------------------------------------------------
def _drop_checksums(version: Path) -> None:
    meta = json.loads((version / "meta.json").read_text())
    meta.pop("files", None)
    (version / "meta.json").write_text(json.dumps(meta))


def _drop_predictor_checksums(version: Path) -> None:
    info = json.loads((version / "predictor.json").read_text())
    info.pop("files", None)
    (version / "predictor.json").write_text(json.dumps(info))


CORRUPTIONS = {
    "lgb_rank.txt emptied": lambda v: truncate(v / "lgb_rank.txt", 0.0),
    "lgb_rank.txt cut in half": lambda v: truncate(v / "lgb_rank.txt", 0.5),
    "xgb_up.ubj cut in half": lambda v: truncate(v / "xgb_up.ubj", 0.5),
    "xgb_rank.ubj garbage": lambda v: (v / "xgb_rank.ubj").write_bytes(b"\x00garbage" * 10),
    "predictor.json missing": lambda v: (v / "predictor.json").unlink(),
    "meta.json garbage": lambda v: (v / "meta.json").write_text("{not json"),
    "version folder deleted": lambda v: __import__("shutil").rmtree(v),
    # without the registry's checksums the tree loader's own checks must refuse the truncated file
    # (LightGBM and XGBoost can segfault on one instead of raising)
    "no registry checksums, lgb_up.txt cut": lambda v: (_drop_checksums(v), truncate(v / "lgb_up.txt", 0.7)),
    "no registry checksums, xgb_up.ubj cut": lambda v: (_drop_checksums(v), truncate(v / "xgb_up.ubj", 0.7)),
    "no checksums at all, lgb_rank.txt cut": lambda v: (_drop_checksums(v), _drop_predictor_checksums(v),
                                                        truncate(v / "lgb_rank.txt", 0.7)),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_model_is_unavailable_never_a_crash(synth_golden: Path, tmp_path: Path, corruption: str) -> None:
    from support.workspace import copy_workspace

    root = copy_workspace(synth_golden, tmp_path / "ws")
    settings = synth_settings(root)
    reg = ModelRegistry(settings.model_dir)
    CORRUPTIONS[corruption](reg.current("trees").path)
    services = Services(settings)
    try:
        served = services.serving("trees")
        assert served.model is None
        assert served.reason and "`kstock train trees`" in served.reason
        row = next(r for r in models_status(services) if r["name"] == "trees")
        assert row["available"] is False and "`kstock train trees`" in row["reason"]
        with pytest.raises(NoModelError, match="학습된 모델"):
            analyze(services, "삼성전자")
        # a retrain is not blocked by the broken serving model
        result = retrain(services, "trees", **fast_tree_options())
        assert result.status == "promoted", result.reason
        assert services.serving("trees").model is not None
        assert analyze(services, "삼성전자").result.label in ("BUY", "HOLD", "SELL")
    finally:
        services.close()


def test_no_model_at_all(synth_golden: Path, tmp_path: Path) -> None:
    from support.workspace import copy_workspace

    root = copy_workspace(synth_golden, tmp_path / "ws", models=False)
    services = Services(synth_settings(root))
    try:
        served = services.serving("trees")
        assert served.model is None and "아직 학습되지 않음" in served.reason
        with pytest.raises(NoModelError, match="학습된 모델"):
            analyze(services, "005930")
    finally:
        services.close()


# -- retrain through the gate ----------------------------------------------------------------------------
def job_row(services: Services) -> runs.JobRun:
    return runs.last_runs(services.store, limit=1, job="retrain:trees")[0]


def test_worse_model_does_not_replace_the_serving_one(workspace, monkeypatch) -> None:
    _root, services = workspace
    before = services.registry.current("trees").version
    versions_before = services.registry.versions("trees")
    use_model(monkeypatch, InverseTrees)
    result = retrain(services, "trees", **fast_tree_options())
    assert result.status == "kept", result.reason
    assert "넘게 나빠" in result.reason and "그대로" in result.reason
    assert result.metrics["rank_ic_mean"] < result.serving_metrics["rank_ic_mean"]
    assert services.registry.current("trees").version == before
    assert services.registry.versions("trees") == versions_before
    assert job_row(services).status == "kept"


def test_better_model_replaces_the_serving_one_and_keeps_the_old(workspace, monkeypatch) -> None:
    _root, services = workspace
    # make a bad model the serving one
    data = services.model_data()
    train, _ = retrain_mod.validation_split(data, services.settings.label_horizon)
    bad = InverseTrees(**fast_tree_options())
    bad.fit(data, train)
    version = services.registry.save("trees", bad.save, {"validation": {}})
    services.registry.promote(version)
    services.forget_model("trees")
    result = retrain(services, "trees", **fast_tree_options())
    assert result.status == "promoted", result.reason
    assert result.serving_metrics["rank_ic_mean"] < 0 < result.metrics["rank_ic_mean"]
    assert services.registry.current("trees").version == result.version != version.version
    assert version.version in services.registry.versions("trees")  # the previous version stays on disk
    assert (version.path / "lgb_rank.txt").exists()
    assert job_row(services).status == "ok"
    assert services.serving("trees").version.version == result.version


def test_a_model_whose_fit_raises_fails_cleanly(workspace, monkeypatch) -> None:
    _root, services = workspace
    before = services.registry.current("trees").version
    use_model(monkeypatch, FailingTrees)
    result = retrain(services, "trees", **fast_tree_options())
    assert result.status == "failed" and not result.ok
    assert "boom" in result.reason and "서비스 중인 모델은 그대로" in result.reason
    assert services.registry.current("trees").version == before
    row = job_row(services)
    assert row.status == "failed" and "boom" in row.error and row.finished_at
    assert services.serving("trees").model is not None


def test_a_nan_validation_metric_fails_cleanly(workspace, monkeypatch) -> None:
    _root, services = workspace
    before = services.registry.current("trees").version
    use_model(monkeypatch, NanTrees)
    result = retrain(services, "trees", **fast_tree_options())
    assert result.status == "failed"
    assert "숫자가 아닙니다" in result.reason and "서비스 중인 모델은 그대로" in result.reason
    assert services.registry.current("trees").version == before
    assert len(services.registry.versions("trees")) == 1
    row = job_row(services)
    assert row.status == "failed" and "숫자가 아닙니다" in row.error


def test_validation_split_has_an_embargo(synth_services) -> None:
    data = synth_services.model_data()
    train, val = retrain_mod.validation_split(data, 5)
    assert len(val) == retrain_mod.VALIDATION_DAYS
    assert np.flatnonzero(train).max() + 5 < val[0]
    assert data.labels.valid[:, val[-1]].any()


def test_unknown_model_kind_fails_with_a_reason(workspace) -> None:
    _root, services = workspace
    result = retrain(services, "nonsense")
    assert result.status == "failed" and "모르는 모델" in result.reason
    with pytest.raises(KstockError):
        from kstock.ml.models import create_model

        create_model("nonsense", services.settings)


def test_meta_records_what_was_trained(synth_golden: Path) -> None:
    reg = ModelRegistry(synth_golden / "models")
    meta = reg.current("trees").meta
    assert meta["name"] == "trees"
    assert len(meta["data_range"]) == 2 and len(meta["train_range"]) == 2 and len(meta["validation_range"]) == 2
    assert meta["train_range"][1] < meta["validation_range"][0]
    from kstock.ml.trees import TreePredictor

    assert meta["features"] == list(TreePredictor.load(reg.current("trees").path).feature_names)  # what it reads
    json.dumps(meta)
