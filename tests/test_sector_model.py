"""The sector-aware CNN-transformer: inputs, routing, the three phases, checkpoints, OOM, torch absent."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kstock.config import Settings
from kstock.features.candle_raster import blank_mask, rasterize_charts
from kstock.features.tabular import FEATURE_NAMES
from kstock.market.store import MarketStore
from kstock.market.synthetic import generate_market
from kstock.ml.sector.config import SectorConfig
from kstock.ml.sector.windows import (
    CALENDAR_FEATURES,
    DROPPED_FEATURES,
    MARKET_FEATURES,
    WINDOW_FEATURES,
    WindowScaler,
    WindowSource,
    calendar_table,
    window_samples,
)

REPO = Path(__file__).resolve().parents[1]
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from kstock.errors import KstockError  # noqa: E402
from kstock.ml.base import (  # noqa: E402
    CALL_PROBS,
    CLASS_CALL,
    CLASS_DECISION,
    CLASS_PROBS,
    SECTOR_HEAD,
    MemberOutput,
)
from kstock.ml.sector.checkpoints import load_checkpoint  # noqa: E402
from kstock.ml.sector.decision import ClassDecision  # noqa: E402
from kstock.ml.sector.model import COMMON_HEAD, SectorAwareFusionModel  # noqa: E402
from kstock.ml.sector.predictor import SectorPredictor, build_model, train_sector  # noqa: E402
from kstock.ml.sector.trainer import ThreePhaseTrainer  # noqa: E402
from kstock.ml.sector.windows import make_split  # noqa: E402

BACKBONE = ("ts_encoder.", "cnn.", "fusion.", "common_head.")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared 2-core box: one thread is fastest
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data(deep_model_data):
    return deep_model_data


@pytest.fixture(scope="module")
def train_days(deep_train_days):
    return deep_train_days


def tiny_config(data, train_days, **kw) -> SectorConfig:
    """A model and schedule small enough for seconds on one core; min_samples leaves some sectors out."""
    cfg = SectorConfig(img_size=32, d_model=16, n_heads=2, n_layers=1, batch_size=32, samples_per_epoch=96,
                       phase2_samples_per_sector=16, phase1_epochs=2, phase2_epochs=1, phase3_epochs=2,
                       val_max_samples=64, patience=5, infer_batch=256, seed=3)
    split = make_split(data, train_days, cfg, horizon=5)
    counts = np.sort(split.sector_counts)
    return replace(cfg, min_samples=int(counts[2]) + 1, **kw)  # the three smallest sectors get no head


@pytest.fixture(scope="module")
def trained(data, train_days, tmp_path_factory):
    """One straight-through three-phase run, with its checkpoints."""
    ckdir = tmp_path_factory.mktemp("ck_straight")
    cfg = tiny_config(data, train_days)
    pred = SectorPredictor(settings=Settings(use_gpu=False), config=cfg, checkpoint_dir=ckdir, progress=False)
    pred.fit(data, train_days)
    return pred, ckdir


# -- inputs ---------------------------------------------------------------------------------------
def test_window_features_are_25_market_plus_3_calendar():
    assert len(MARKET_FEATURES) == 25 and len(WINDOW_FEATURES) == 28
    assert not set(DROPPED_FEATURES) & set(MARKET_FEATURES)
    assert set(MARKET_FEATURES) | set(DROPPED_FEATURES) == set(FEATURE_NAMES)
    assert WINDOW_FEATURES[-3:] == CALENDAR_FEATURES
    cal = calendar_table(np.array(["2024-01-01", "2024-12-31", "2025-06-13"], dtype="datetime64[D]"))
    np.testing.assert_allclose(cal[0], [-1, -1, -1])  # Monday, January, the 1st
    np.testing.assert_allclose(cal[1], [-0.5, 1, 1])  # Tuesday 31 December
    np.testing.assert_allclose(cal[2], [1, 2 * 5 / 11 - 1, 2 * 12 / 30 - 1], atol=1e-6)  # Friday 13 June


def test_windows_are_gathered_per_sample_and_never_blank(data, train_days):
    tick, day = window_samples(data, train_days, 60, 20)
    assert len(tick) and day.min() >= 59
    assert data.universe[tick].all() and np.isfinite(data.labels.three_class[tick, day]).all()
    scaler = WindowScaler.fit(data, tick, day)
    src = WindowSource(data, scaler, window=60, img_size=32)
    pick = np.array([0, len(tick) // 2, len(tick) - 1])
    ts, img, sid = src.batch(tick[pick], day[pick])
    assert ts.shape == (3, 60, 28) and ts.dtype == np.float32 and np.isfinite(ts).all()
    assert img.shape == (3, 3, 32, 32) and img.dtype == np.uint8 and not blank_mask(img).any()
    i, t = tick[pick[1]], day[pick[1]]
    raw = data.features.values[i, t - 59 : t + 1][:, [FEATURE_NAMES.index(n) for n in MARKET_FEATURES]]
    np.testing.assert_allclose(ts[1, :, :25], scaler.transform(raw), rtol=1e-6)
    np.testing.assert_array_equal(ts[1, :, 25:], calendar_table(data.dates[t - 59 : t + 1]))
    np.testing.assert_array_equal(img[1], rasterize_charts(data.panel.ohlcv[i, t - 59 : t + 1][None], size=32)[0])
    assert sid[1] == data.panel.sector_ids[i]


def test_split_is_by_date_with_an_embargo_and_scaler_from_training_only(data, train_days):
    cfg = SectorConfig(img_size=32)
    split = make_split(data, train_days, cfg, horizon=5)
    last_train, first_val = split.train_days.max(), split.val_days.min()
    assert first_val - last_train > 5  # the embargo covers the 5-day label horizon
    assert split.val_days.max() <= np.flatnonzero(train_days).max()
    # the scaler only ever sees training samples: poisoning the validation period changes nothing
    poisoned = replace(data, features=replace(data.features, values=data.features.values.copy()))
    poisoned.features.values[:, first_val:] = 1e6
    again = make_split(poisoned, train_days, cfg, horizon=5)
    np.testing.assert_array_equal(split.source.scaler.mean, again.source.scaler.mean)
    assert split.class_weights.shape == (3,) and (split.class_weights > 0).all()


# -- the model ------------------------------------------------------------------------------------
def test_output_shapes_in_every_phase_and_routing():
    model = SectorAwareFusionModel(n_features=28, window=60, img_size=64, d_model=16, n_heads=2, n_layers=1)
    ts, img = torch.randn(5, 60, 28), torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    sid = torch.tensor([0, 3, -1, 12, 3])
    for phase in (1, 2, 3):
        out = model(ts, img, sid, phase=phase)
        assert out["logits"].shape == (5, 3) and out["head"].shape == (5,)
    assert (model(ts, img, sid, phase=2)["head"] == COMMON_HEAD).all()  # untrained heads do not answer
    model.init_sector_heads_from_common()
    for phase in (2, 3):
        assert model(ts, img, sid, phase=phase)["head"].tolist() == [0, 3, COMMON_HEAD, 12, 3]  # −1 → common
    assert (model(ts, img, sid, phase=1)["head"] == COMMON_HEAD).all()
    with pytest.raises(ValueError, match="input width"):
        model(torch.randn(5, 60, 25), img, sid, phase=1)  # the input width comes from the config
    with pytest.raises(ValueError, match="sector ids"):
        model(ts, img, torch.tensor([0, 1, 2, 13, 0]), phase=2)
    wide = SectorAwareFusionModel(n_features=31, window=20, img_size=32, d_model=16, n_heads=2, n_layers=1)
    out = wide(torch.randn(2, 20, 31), torch.zeros(2, 3, 32, 32), torch.tensor([1, 2]), phase=2)
    assert out["logits"].shape == (2, 3)


def test_freeze_and_unfreeze_backbone():
    model = SectorAwareFusionModel(d_model=16, n_heads=2, n_layers=1, img_size=32)
    model.freeze_backbone()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(BACKBONE) for n in frozen)
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith("sector_heads."))
    model.train()
    assert not model.fusion.training and model.sector_heads.training
    model.unfreeze_backbone()
    assert all(p.requires_grad for p in model.parameters())


# -- the three phases -------------------------------------------------------------------------------
def test_phase2_leaves_the_backbone_unchanged_and_applies_min_samples(trained):
    pred, ckdir = trained
    p1 = load_checkpoint(ckdir / "phase1_final.pt")["model"]
    ck2 = load_checkpoint(ckdir / "phase2_final.pt")
    p2 = ck2["model"]
    for key in p1:
        if key.startswith(BACKBONE):
            assert torch.equal(p1[key], p2[key]), key
    counts = np.asarray(ck2["prep"]["sector_counts"])
    min_samples = ck2["config"]["min_samples"]
    active = p2["head_active"].numpy()
    np.testing.assert_array_equal(active, counts >= min_samples)
    assert 0 < active.sum() < len(active)
    for s in range(len(active)):
        head = {k.split(".", 2)[2]: v for k, v in p2.items() if k.startswith(f"sector_heads.{s}.")}
        same = all(torch.equal(v, p1[f"common_head.{k}"]) for k, v in head.items())
        assert same != bool(active[s]), s  # trained heads moved; a small sector keeps the common head
    final = pred.model.state_dict()  # after phase 3, inactive heads still equal phase 1's common head
    for s in np.flatnonzero(~active):
        assert all(torch.equal(final[f"sector_heads.{s}.{k.split('.', 1)[1]}"], v)
                   for k, v in p1.items() if k.startswith("common_head."))
    assert set(pred.metrics) == {"phase1", "phase2", "phase3"}
    assert pred.metrics["phase1"]["sector_head_share"] == 0.0  # phase 1 validates through the common head
    assert pred.metrics["phase3"]["sector_head_share"] > 0.5  # phases 2–3 through the sector heads


def test_resume_from_a_checkpoint_matches_training_straight_through(data, train_days, trained, tmp_path):
    straight, _ = trained

    class Crash(Exception):
        pass

    def crash_in(phase: int, epoch: int):
        def callback(event):
            if event["event"] == "batch" and event["phase"] == phase and event["epoch"] == epoch:
                raise Crash
        return callback

    cfg = straight.config
    for phase, epoch in ((1, 2), (3, 2)):
        ckdir = tmp_path / f"crash{phase}"
        with pytest.raises(Crash):
            SectorPredictor(settings=Settings(use_gpu=False), config=cfg, checkpoint_dir=ckdir,
                            progress=crash_in(phase, epoch)).fit(data, train_days)
        resumed = SectorPredictor(settings=Settings(use_gpu=False), config=cfg, checkpoint_dir=ckdir, progress=False)
        resumed.fit(data, train_days, resume=True)
        a, b = straight.model.state_dict(), resumed.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"crash in phase {phase} epoch {epoch}"
        assert resumed.metrics["phase3"]["loss"] == pytest.approx(straight.metrics["phase3"]["loss"])


def test_phases_one_at_a_time_through_the_model_interface(data, train_days, tmp_path):
    """What `kstock train sector --phase N [--resume]` does: create_model(phase=…, resume=…) then fit."""
    from kstock.ml.models import create_model

    options = {k: v for k, v in tiny_config(data, train_days).as_dict().items() if k != "device"}
    options.update(phase1_epochs=1, phase3_epochs=1)
    settings = Settings(use_gpu=False, model_dir=tmp_path / "models")
    with pytest.raises(KstockError, match="phase 1"):
        train_sector(data, settings, phase="2", progress=False, train_days=train_days, **options)
    ckdir = tmp_path / "models" / ".checkpoints" / "sector"  # the default place, hidden from the registry
    messages: list[str] = []
    for phase in ("1", "2", "3"):
        model = create_model("sector", settings, phase=phase, **options)
        model.set_progress(messages.append)
        model.fit(data, train_days)
        assert set(model.metrics) == {f"phase{p}" for p in range(1, int(phase) + 1)}
        assert (ckdir / f"phase{phase}_final.pt").exists()
    assert any("2/3단계, 반복 1 끝" in m and "macro-F1" in m for m in messages)
    assert any("3/3단계 끝" in m for m in messages)
    assert np.nanmax(model.predict_days(data, np.array([len(data.dates) - 1])).extras["head"]) >= 0
    again = create_model("sector", settings, resume=True, **options)  # everything done: nothing to train
    again.fit(data, train_days)
    assert set(again.metrics) == {"phase1", "phase2", "phase3"}
    a, b = model.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    create_model("sector", settings, phase="1", **options).fit(data, train_days)  # a fresh phase 1 …
    assert not list(ckdir.glob("phase2_*")) and not list(ckdir.glob("phase3_*"))  # … drops the later phases


def test_out_of_memory_halves_the_batch_and_carries_on(data, train_days):
    cfg = replace(tiny_config(data, train_days), phase1_epochs=1, samples_per_epoch=64)
    split = make_split(data, train_days, cfg, horizon=5)
    model = build_model(cfg)
    original = model.forward
    seen: list[int] = []

    def forward(ts, img, sector_id, phase=2):
        seen.append(ts.shape[0])
        if model.training and ts.shape[0] > 16:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(ts, img, sector_id, phase=phase)

    model.forward = forward
    events: list[dict] = []
    trainer = ThreePhaseTrainer(model, split, cfg, checkpoint_dir=None, progress=events.append, device="cpu")
    trainer.run(phases=1)
    assert trainer.batch_size == 16
    assert [e["batch_size"] for e in events if e["event"] == "oom"] == [16]
    train_batches = [n for n in seen if n <= 32][:3]
    assert train_batches[:2] == [32, 16]
    assert sum(e["done"] == 64 for e in events if e["event"] == "batch") == 1  # every sample trained once

    def broken(ts, img, sector_id, phase=2):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    model.forward = broken
    with pytest.raises(RuntimeError, match="shapes"):  # other errors are not mistaken for OOM
        ThreePhaseTrainer(model, split, cfg, progress=False, device="cpu").run(phases=1)


# -- the model interface -------------------------------------------------------------------------------
def test_predict_days_goes_through_the_sector_heads(data, trained):
    pred, _ = trained
    days = np.arange(len(data.dates) - 5, len(data.dates))
    out = pred.predict_days(data, days)
    n = len(data.panel.codes)
    assert out.probability.shape == out.score.shape == (n, 5)
    assert out.extras["class_probs"].shape == (n, 5, 3) and out.extras["head"].shape == (n, 5)
    ok = np.isfinite(out.score)
    assert ok.any() and not ok[~data.universe].any()
    cp = out.extras["class_probs"]
    np.testing.assert_allclose(cp[ok].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.probability[ok], cp[..., 2][ok])
    np.testing.assert_allclose(out.score[ok], (cp[..., 2] - cp[..., 0])[ok])
    sectors = np.broadcast_to(data.panel.sector_ids[:, None], ok.shape)
    active = pred.model.head_active.numpy()
    expect = np.where((sectors >= 0) & active[np.maximum(sectors, 0)], sectors, COMMON_HEAD)
    np.testing.assert_array_equal(out.extras["head"][ok], expect[ok])

    s = int(np.flatnonzero(active)[0])  # perturb one sector head: only that sector's answers move
    with torch.no_grad():
        for p in pred.model.sector_heads[s].parameters():
            p.add_(torch.randn_like(p))
    try:
        again = pred.predict_days(data, days)
    finally:
        pred.model.load_state_dict(load_checkpoint(trained[1] / "phase3_final.pt")["model"])
    changed = ok & ~np.isclose(again.score, out.score, equal_nan=True)
    assert changed.any() and (sectors[changed] == s).all()
    np.testing.assert_allclose(again.score[ok & (sectors != s)], out.score[ok & (sectors != s)])


def test_cpu_prediction_runs_in_small_batches_with_the_same_answers(data, trained, monkeypatch):
    """The daily scoring predicts the whole market on the CPU: in batches of at most CPU_PREDICT_BATCH (the chart
    CNN's activations for the model's infer_batch of 1,024 were the scoring's largest transient, ~300 MB), and
    each sample's answer is the one a single batch of everything gives (eval mode; float32 sums: 1e-6)."""
    from kstock.ml.sector import predictor as sector_predictor

    pred, _ = trained
    days = np.arange(len(data.dates) - 5, len(data.dates))
    seen: list[int] = []
    original = pred.model.forward

    def forward(ts, img, sector_id, phase=2):
        seen.append(ts.shape[0])
        return original(ts, img, sector_id, phase=phase)

    monkeypatch.setattr(pred.model, "forward", forward)
    monkeypatch.setattr(pred, "config", replace(pred.config, infer_batch=100_000))
    monkeypatch.setattr(sector_predictor, "CPU_PREDICT_BATCH", 100_000)
    whole = pred.predict_days(data, days)
    assert len(seen) == 1 and seen[0] > 7  # one batch of every sample
    seen.clear()
    monkeypatch.setattr(sector_predictor, "CPU_PREDICT_BATCH", 7)
    batched = pred.predict_days(data, days)
    assert max(seen) == 7 and sum(seen) == int(np.isfinite(whole.score).sum())
    np.testing.assert_array_equal(np.isnan(batched.score), np.isnan(whole.score))
    np.testing.assert_allclose(batched.extras["class_probs"], whole.extras["class_probs"], atol=1e-6)
    np.testing.assert_array_equal(batched.extras["head"], whole.extras["head"])


def test_save_and_load_round_trip(data, trained, tmp_path):
    pred, _ = trained
    pred.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"sector_model.pt", "sector_model.json"}
    torch.load(tmp_path / "sector_model.pt", weights_only=True)  # plain tensors only
    loaded = SectorPredictor.load(tmp_path)
    days = np.array([len(data.dates) - 1])
    a, b = pred.predict_days(data, days), loaded.predict_days(data, days)
    np.testing.assert_allclose(a.score, b.score, atol=1e-6)
    np.testing.assert_array_equal(a.extras["head"], b.extras["head"])
    assert loaded.describe()["img_size"] == 32
    assert loaded.decision == pred.decision  # the call's offsets travel with the model
    np.testing.assert_array_equal(a.extras[CLASS_DECISION], b.extras[CLASS_DECISION])


def test_registered_kind_and_factory_options(data):
    from kstock.ml.models import create_model, known_kinds, unavailable_reason

    assert "sector" in known_kinds() and unavailable_reason("sector") is None
    model = create_model("sector", Settings(chart_size=48, use_gpu=False), epochs=1, batch_size=8)
    assert model.name == "sector" and model.config.img_size == 48
    assert model.config.phase1_epochs == 1 and model.config.batch_size == 8
    with pytest.raises(KstockError, match="unknown option"):
        create_model("sector", Settings(), batch_sise=8)


def test_validate_command_prints_the_report(data, trained, capsys, tmp_path):
    from kstock.cli import main

    _, ckdir = trained
    db = tmp_path / "v.db"
    MarketStore(db).ingest(generate_market(n_tickers=40, years=1.5, seed=1), source="t")
    rc = main(["validate", "sector", "--checkpoint", str(ckdir / "phase3_final.pt"), "--db", str(db)])
    out = capsys.readouterr().out
    assert rc == 0
    for text in ("손실", "정확도", "macro-F1", "늘 HOLD 기준선", "SELL", "BUY", "섹터 헤드"):
        assert text in out
    assert main(["validate", "sector", "--checkpoint", str(tmp_path / "nope.pt"), "--db", str(db)]) == 1


def test_validate_reports_the_call_the_analysis_shows(data, trained):
    """A saved model carries its offsets: validation reports the call's accuracy (what /analyze shows) beside the
    plain argmax's, on the same samples; a checkpoint (no offsets) reports only the argmax."""
    from kstock.cli.deep_cmds import format_report
    from kstock.ml.sector.predictor import validate_sector

    pred, _ = trained
    shown = copy.copy(pred)
    shown.decision = ClassDecision((-6.0, 0.0, -6.0), 0.56, 0.55, 0.0)  # calls HOLD everywhere
    report = validate_sector(data, shown)
    assert report["decision_accuracy"] == pytest.approx(report["hold_baseline_accuracy"], abs=1e-12)
    assert report["decision_call_share"] == 0
    text = format_report({**report, "model": "x"})
    assert "3분류 판단     정확도" in text and "매수·매도라고 답한 비율 0.0 %" in text
    bare = copy.copy(pred)
    bare.decision = None
    assert "decision_accuracy" not in validate_sector(data, bare)


def test_without_torch_the_kind_is_unavailable(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class _NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError("No module named 'torch'", name="torch")
                return None
        sys.meta_path.insert(0, _NoTorch())
    """))
    code = textwrap.dedent("""
        import kstock.ml.sector as sm
        from kstock.ml.models import TORCH_MISSING, known_kinds, unavailable_reason
        assert "sector" in known_kinds()
        assert unavailable_reason("sector") == TORCH_MISSING, unavailable_reason("sector")
        assert len(sm.WINDOW_FEATURES) == 28
        from kstock.cli import main
        assert main(["validate", "sector", "--db", "x.db"]) == 1
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(REPO / "src")])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
    assert "torch가 설치되지 않음" in proc.stderr


# -- the three-class call is shown only when it beat always-HOLD ---------------------------------------------
def _note_text(pred, data, day: int) -> tuple[str | None, MemberOutput]:
    from kstock.ml.base import NoteContext
    from kstock.ml.sector.notes import head_note

    out = pred.predict_days(data, np.array([day]))
    i = int(np.flatnonzero(np.isfinite(out.extras[SECTOR_HEAD][:, 0]))[0])
    note = head_note(NoteContext(out.extras, i, day, data.dates, data.panel))
    return (note.lines[0] if note else None), out


def test_the_class_is_a_call_only_when_it_beat_always_hold(data, trained):
    """Below always-HOLD's accuracy on held-out days its offsets never saw, the class is no call: the analysis
    shows only the head (the score still feeds the ensemble). Above it, the head line also says the call — the
    most probable class after the offsets — and its probability."""
    pred, _ = trained
    assert pred.decision is not None  # fitted with the model, on its validation days
    last = pred.metrics[max(pred.metrics)]  # judged in the last phase's best epoch's validation pass
    assert pred.decision.accuracy == last["decision_accuracy"] and pred.decision.call_share == last[
        "decision_call_share"] and pred.decision.hold_accuracy == last["hold_baseline_accuracy"]
    assert pred.decision.offsets == pytest.approx(tuple(-np.log(pred.class_weights / pred.class_weights[1])))
    assert set(pred.decision.as_dict()) >= {"offsets", "accuracy", "hold_accuracy", "call_share", "earned"}
    day = len(data.dates) - 1
    below = copy.copy(pred)
    below.decision = ClassDecision((-0.3, 0.0, -0.3), accuracy=0.51, hold_accuracy=0.55, call_share=0.2)
    text, out = _note_text(below, data, day)
    assert CLASS_CALL not in out.extras and "3분류" not in text and text.endswith("헤드")
    assert CLASS_DECISION in out.extras  # the evaluator still holds it against always-HOLD
    earned = copy.copy(pred)
    earned.decision = ClassDecision((0.4, 0.0, -0.4), accuracy=0.58, hold_accuracy=0.55, call_share=0.2)
    text, out = _note_text(earned, data, day)
    calls = out.extras[CLASS_CALL][:, 0]
    probs = out.extras[CLASS_PROBS][:, 0]
    ok = np.isfinite(calls)
    expected = np.argmax(np.log(probs[ok]) + np.array([0.4, 0.0, -0.4]), axis=1)
    assert ok.any() and np.array_equal(calls[ok], expected)
    assert np.array_equal(out.extras[CLASS_DECISION][:, 0], calls, equal_nan=True)
    assert re.search(r"헤드 · 3분류 판단 (매수|관망|매도) \(\d+%\)$", text), text
    # the probability shown is the one the call was made from: the offsets applied, renormalised
    posterior = probs[ok] * np.exp([0.4, 0.0, -0.4])
    posterior /= posterior.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.extras[CALL_PROBS][:, 0][ok], posterior, atol=1e-9)
    i = int(np.flatnonzero(ok)[0])
    assert text.endswith(f"({out.extras[CALL_PROBS][i, 0, int(calls[i])]:.0%})"), text
    assert np.array_equal(out.score, below.predict_days(data, np.array([day])).score, equal_nan=True)


def test_a_model_saved_before_the_offsets_is_judged_by_its_argmax(data, trained):
    """No decision in its file: its plain argmax is the call, shown only if its validation accuracy was at or
    above always-HOLD's (a file without the baseline shows none)."""
    pred, _ = trained
    day = len(data.dates) - 1
    legacy = copy.copy(pred)
    legacy.decision = None
    legacy.metrics = {"2": {"accuracy": 0.51, "hold_baseline_accuracy": 0.55}}
    assert CLASS_CALL not in legacy.predict_days(data, np.array([day])).extras
    legacy.metrics = {"2": {"accuracy": 0.6}}
    assert CLASS_CALL not in legacy.predict_days(data, np.array([day])).extras
    legacy.metrics = {"2": {"accuracy": 0.58, "hold_baseline_accuracy": 0.55}}
    out = legacy.predict_days(data, np.array([day]))
    calls, probs = out.extras[CLASS_CALL][:, 0], out.extras[CLASS_PROBS][:, 0]
    ok = np.isfinite(calls)
    assert ok.any() and np.array_equal(calls[ok], probs[ok].argmax(axis=1))
