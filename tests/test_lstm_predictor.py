"""The attention LSTM (issue 4): sequences, split, scaler, early stopping, persistence (the ensemble: test_ensemble).

Trainings here are tiny (hidden 8, ~1k samples per epoch, one thread) — they check behaviour, not
skill. Tests that train need torch; the rest run without it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kstock.ml.lstm import SEQUENCE_LENGTH, LSTMParams, LSTMPredictor
from kstock.ml.lstm.data import fit_scaler, gather_windows, scale_windows, split_days
from kstock.ml.lstm_predictor import (  # the seed's names, kept in the seed's module
    build_sequences,
    ensemble_3model_predict,
    get_lstm_enhanced_prediction,
    load_lstm_model,
    predict_lstm,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def tiny(**changes) -> LSTMParams:
    base = dict(hidden_size=8, samples_per_epoch=1024, batch_size=256, max_val_samples=1500, max_epochs=2,
                patience=2, n_threads=1, time_budget_s=None, learning_rate=3e-3)
    return LSTMParams(**{**base, **changes})


@pytest.fixture(scope="module")
def data(deep_model_data):
    return deep_model_data


@pytest.fixture(scope="module")
def train_days(deep_train_days):
    return deep_train_days


@pytest.fixture(scope="module")
def fitted(data, train_days):
    pytest.importorskip("torch")
    model = LSTMPredictor(tiny(), seed=3, progress_bar=False)
    model.fit(data, train_days)
    return model


def _predictions(model, data):
    days = np.arange(len(data.dates) - 30, len(data.dates))
    return model.predict_days(data, days)


# -- sequences, scaling (no torch) -------------------------------------------------------------------
def test_build_sequences_shapes_and_alignment():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(100, 30))
    targets = rng.integers(0, 2, 100).astype(float)
    X, y = build_sequences(features, targets, seq_len=20)
    # each window ends on the day it is labelled with: 100 - 20 + 1 samples
    assert X.shape == (81, 20, 30) and y.shape == (81,)
    assert X.dtype == np.float32
    np.testing.assert_allclose(X[0], features[:20].astype(np.float32))
    np.testing.assert_allclose(X[5, -1], features[24].astype(np.float32))
    assert y[5] == targets[24]
    X, y = build_sequences(features[:10], targets[:10], seq_len=20)
    assert X.shape == (0, 20, 30) and y.shape == (0,)


def test_gather_windows_matches_build_sequences_and_pads_history():
    rng = np.random.default_rng(1)
    cube = rng.normal(size=(3, 50, 4)).astype(np.float32)
    X, _ = build_sequences(cube[2], np.zeros(50), seq_len=SEQUENCE_LENGTH)
    got = gather_windows(cube, np.array([2, 2]), np.array([19, 49]))
    np.testing.assert_array_equal(got[0], X[0])
    np.testing.assert_array_equal(got[1], X[-1])
    early = gather_windows(cube, np.array([0]), np.array([4]))[0]
    assert np.isnan(early[:15]).all() and np.array_equal(early[15:], cube[0, :5])


def test_scale_windows_missing_and_clip():
    mean, std = np.zeros(3, np.float32), np.ones(3, np.float32)
    w = np.array([[[1.0, np.nan, 100.0], [np.nan, np.nan, np.nan]]], dtype=np.float32)
    z, present = scale_windows(w, mean, std, missing_indicator=True)
    assert z.shape == (1, 2, 4)
    np.testing.assert_allclose(z[0, 0], [1.0, 0.0, 5.0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(z[0, 1], [0.0, 0.0, 0.0, 1.0])
    assert present.tolist() == [[True, False]]
    z, _ = scale_windows(w, mean, std, missing_indicator=False)
    assert z.shape == (1, 2, 3) and np.isfinite(z).all()


def test_fit_scaler_is_robust_to_outliers():
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(10_000, 2))
    rows[0, 0] = 1e6  # an unadjusted split
    rows[:100, 1] = np.nan
    mean, std = fit_scaler(rows)
    assert abs(mean[0]) < 0.1 and 0.8 < std[0] < 1.2
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    _, std_const = fit_scaler(np.ones((100, 1)))
    assert std_const[0] == 1.0


# -- the date split and embargo (no torch) -------------------------------------------------------------
def test_split_days_embargo():
    fit, val = split_days(np.arange(100), 0.15, embargo=5)
    assert val.tolist() == list(range(85, 100))
    assert fit.max() + 5 < val.min()


def test_training_split_is_by_date_across_tickers_with_embargo(data, train_days):
    horizon = data.labels.horizon
    model = LSTMPredictor(tiny(embargo=2))  # a smaller embargo is raised to the label horizon
    fit_mask, val_mask = model.training_samples(data, train_days)
    fit_days, val_days = np.flatnonzero(fit_mask.any(axis=0)), np.flatnonzero(val_mask.any(axis=0))
    assert fit_mask.sum() > 1000 and val_mask.sum() > 100
    # no validation day within `horizon` days after the last training day: no label window overlaps
    assert val_days.min() - fit_days.max() > horizon
    assert not (fit_mask & val_mask).any()
    # validation = the last ~15 % of the training days, for every ticker alike
    train_idx = np.flatnonzero(train_days)
    assert val_days.max() == train_idx[-1] and not val_mask[:, ~train_days].any()
    assert abs(len(np.unique(np.flatnonzero(val_mask.any(0)))) - 0.15 * len(train_idx)) <= 1
    per_ticker_last_fit = [np.flatnonzero(r).max() for r in fit_mask if r.any()]
    per_ticker_first_val = [np.flatnonzero(r).min() for r in val_mask if r.any()]
    assert max(per_ticker_last_fit) + horizon < min(per_ticker_first_val)
    # every sample of the shared split days is used (no ticker has its own split)
    assert np.array_equal(fit_mask, data.sample_mask(np.isin(np.arange(len(data.dates)), fit_days)))


# -- the seed helpers without a model ------------------------------------------------------------------
def test_predict_lstm_is_none_without_a_model(tmp_path):
    assert predict_lstm(None, np.zeros((20, 30))) is None
    assert load_lstm_model(tmp_path / "missing.pt") == (None, None, None)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert load_lstm_model(tmp_path / "bad.pt") == (None, None, None)


def test_ensemble_3model_follows_the_ensemble_rule_none_is_missing_and_0505_is_kept():
    """LightGBM and XGBoost are the trees member's two halves; members combine as ``ensemble.combine`` does."""
    from kstock.ml.base import MemberOutput
    from kstock.ml.ensemble import DEFAULT_WEIGHTS, combine

    # the trees member averages its boosters; the lstm is missing
    assert ensemble_3model_predict(0.6, 0.4, None) == pytest.approx(0.5)
    assert ensemble_3model_predict(None, 0.4, None) == pytest.approx(0.4)
    assert ensemble_3model_predict(None, None, 0.505) == pytest.approx(0.505)
    # a genuine 0.505 takes part (the seed dropped anything within 0.01 of 0.5 as "missing"); NaN is missing;
    # without weights the members are weighed by the ensemble's defaults, as serving does
    w_trees, w_lstm = DEFAULT_WEIGHTS["trees"], DEFAULT_WEIGHTS["lstm"]
    both = (w_trees * 0.7 + w_lstm * 0.505) / (w_trees + w_lstm)
    assert ensemble_3model_predict(0.7, 0.7, 0.505) == pytest.approx(both)
    assert ensemble_3model_predict(0.7, float("nan"), 0.505) == pytest.approx(both)
    assert ensemble_3model_predict(None, None, None) is None
    assert ensemble_3model_predict(0.2, None, 0.8, weights={"trees": 1.0, "lstm": 0.0}) == pytest.approx(0.2)
    # weights chosen on validation folds (as stored for the ensemble) weigh the members like the product does
    weights = {"trees": 0.7, "lstm": 0.3}
    one = {"trees": MemberOutput(np.array([[0.5]]), np.array([[0.5]])),
           "lstm": MemberOutput(np.array([[0.9]]), np.array([[0.9]]))}
    expected = combine(one, weights).probability[0, 0]
    got = ensemble_3model_predict(0.6, 0.4, 0.9, weights=weights)
    assert isinstance(got, float) and got == pytest.approx(expected) == pytest.approx(0.7 * 0.5 + 0.3 * 0.9)


def test_enhanced_prediction_without_models(tmp_path, monkeypatch):
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(tmp_path))
    result = get_lstm_enhanced_prediction(None, None, np.zeros((20, 30)))
    assert result.probability is None and result.score is None and result.label == "HOLD"
    assert result.members == {"trees": None, "lstm": None}
    assert set(result.unavailable) == {"trees", "lstm"}


def test_module_imports_and_degrades_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "import kstock.ml.lstm_predictor as m\n"
        "from kstock.ml.models import unavailable_reason, TORCH_MISSING\n"
        "assert unavailable_reason('lstm') == TORCH_MISSING, unavailable_reason('lstm')\n"
        "assert m.predict_lstm(object(), np.zeros((20, 30))) is None\n"
        "assert m.load_lstm_model('x.pt') == (None, None, None)\n"
        "assert m.ensemble_3model_predict(0.5, None, None) == 0.5\n"
        "r = m.get_lstm_enhanced_prediction(None, None, np.zeros((20, 30)))\n"
        "assert r.unavailable['lstm'] == TORCH_MISSING\n"
        "try:\n    m.StockLSTM\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('StockLSTM without torch')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# -- the network and training (torch) ------------------------------------------------------------
def test_stock_lstm_forward_heads_and_attention():
    torch = pytest.importorskip("torch")
    from kstock.ml.lstm_predictor import StockLSTM

    model = StockLSTM(input_size=30, hidden_size=16).eval()
    x = torch.randn(4, 20, 30)
    mask = torch.ones(4, 20, dtype=torch.bool)
    mask[0, :5] = False
    up_logit, score, attn = model(x, mask)
    assert up_logit.shape == (4,) and score.shape == (4,) and attn.shape == (4, 20)
    torch.testing.assert_close(attn.sum(dim=1), torch.ones(4))
    assert float(attn[0, :5].detach().abs().sum()) == 0.0


def test_fit_predict_shapes_and_progress(data, train_days):
    pytest.importorskip("torch")
    seen: list[tuple[int, int]] = []
    lines: list[str] = []
    model = LSTMPredictor(tiny(max_epochs=2, patience=5), seed=0, progress_bar=False,
                          progress=lambda e, t, m: seen.append((e, t)))
    metrics = model.fit(data, train_days)
    assert seen == [(1, 2), (2, 2)]
    assert np.isfinite(metrics["val_loss"]) and 0 <= metrics["val_auc"] <= 1
    out = _predictions(model, data)
    assert out.probability.shape == (40, 30) and out.extras["attention"].shape == (40, 30, SEQUENCE_LENGTH)
    ok = np.isfinite(out.score)
    assert ok.sum() > 0.9 * data.universe.sum() * 30
    assert np.array_equal(ok, np.isfinite(out.probability))
    assert ((out.probability[ok] > 0) & (out.probability[ok] < 1)).all()
    np.testing.assert_allclose(np.nansum(out.extras["attention"], axis=2)[ok], 1.0, rtol=1e-5)
    assert not ok[~data.universe].any()  # only common stocks are scored
    model.set_progress(lines.append)
    model.progress(1, 2, {"train_loss": 1.0, "val_loss": 1.1, "val_auc": 0.5, "val_rank_ic": 0.01})
    assert lines and lines[0].startswith("lstm: 학습 반복(epoch) 1/2")


def test_same_seed_same_model(data, train_days, fitted):
    pytest.importorskip("torch")
    again = LSTMPredictor(tiny(), seed=3, progress_bar=False)
    again.fit(data, train_days)
    a, b = fitted.network.state_dict(), again.network.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    np.testing.assert_array_equal(_predictions(fitted, data).score, _predictions(again, data).score)
    assert fitted.train_result.history == again.train_result.history


def test_early_stopping_restores_the_best_epoch(data, train_days):
    """Labels that are a visible feature in training and its inverse in validation: the more the network
    learns, the worse validation gets, so the validation loss rises after epoch 1 and epoch 1 comes back."""
    pytest.importorskip("torch")
    from kstock.features.labels import cross_sectional_rank

    model = LSTMPredictor(tiny(), seed=5)
    _, val_mask = model.training_samples(data, train_days)
    labels = data.labels
    signal = np.where(labels.valid, data.features.values[:, :, data.features.names.index("ret_1d")], np.nan)
    rank = cross_sectional_rank(signal)
    up = np.where(np.isnan(rank), np.nan, (rank > 0.5).astype(float))
    up[val_mask], rank[val_mask] = 1 - up[val_mask], 1 - rank[val_mask]
    flipped = dataclasses.replace(data, labels=dataclasses.replace(labels, up=up, rank=rank))

    params = tiny(max_epochs=4, patience=2, learning_rate=1e-2, samples_per_epoch=4096)
    long_run = LSTMPredictor(params, seed=5, progress_bar=False)
    said: list[str] = []
    long_run.set_progress(said.append)
    long_run.fit(flipped, train_days)
    result = long_run.train_result
    # the admin watching /retrain reads why it stopped at 3/4, in Korean
    assert said[-1] == ("lstm: 조기 종료: 검증 손실이 2번 연속 나아지지 않아 멈춤 — "
                        "가장 좋았던 1번째 반복의 모델을 씁니다"), said
    losses = [h["val_loss"] for h in result.history]
    assert result.epochs_trained == 3 and losses[1] > losses[0] and losses[2] > losses[0], losses
    assert result.best_epoch == 1 and result.val_loss == losses[0]
    assert result.overfitting_warning

    one_epoch = LSTMPredictor(dataclasses.replace(params, max_epochs=1), seed=5, progress_bar=False)
    one_epoch.fit(flipped, train_days)
    a, b = long_run.network.state_dict(), one_epoch.network.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    np.testing.assert_array_equal(_predictions(long_run, data).score, _predictions(one_epoch, data).score)


def test_scaler_sees_training_samples_only(data, train_days, fitted):
    pytest.importorskip("torch")
    fit_mask, val_mask = fitted.training_samples(data, train_days)
    first_val = np.flatnonzero(val_mask.any(axis=0)).min()
    values = data.features.values.copy()
    values[:, first_val:] = values[:, first_val:] * 50 + 1000  # validation and test days changed wildly
    changed = dataclasses.replace(data, features=dataclasses.replace(data.features, values=values))
    other = LSTMPredictor(tiny(max_epochs=1), seed=3, progress_bar=False)
    other.fit(changed, train_days)
    np.testing.assert_array_equal(other.scaler_mean, fitted.scaler_mean)
    np.testing.assert_array_equal(other.scaler_std, fitted.scaler_std)
    mean, std = fit_scaler(data.features.values[fit_mask], seed=3)
    np.testing.assert_array_equal(fitted.scaler_mean, mean)
    np.testing.assert_array_equal(fitted.scaler_std, std)


def test_save_load_gives_identical_outputs(data, fitted, tmp_path):
    torch = pytest.importorskip("torch")
    fitted.save(tmp_path)
    loaded = LSTMPredictor.load(tmp_path)
    a, b = _predictions(fitted, data), _predictions(loaded, data)
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.extras["attention"], b.extras["attention"])
    assert loaded.label_cuts == fitted.label_cuts
    assert json.loads((tmp_path / "lstm.json").read_text())["features"] == list(data.features.names)
    # the checkpoint is plain tensors and config: loadable with weights_only=True
    ckpt = torch.load(tmp_path / "lstm.pt", weights_only=True)
    assert set(ckpt) >= {"model_state", "scaler_mean", "scaler_std", "config"}
    # the seed's functions on the same file, and single-ticker inference
    net, mean, std = load_lstm_model(tmp_path / "lstm.pt")
    window = data.features.values[5, -SEQUENCE_LENGTH:]
    prob = predict_lstm(net, window, mean, std)
    assert prob == pytest.approx(a.probability[5, -1], abs=1e-6)
    halted = window.copy()
    halted[-1] = np.nan
    assert predict_lstm(net, halted, mean, std) is None  # no data on the day predicted from
    assert fitted.predict_one(window)[1] == pytest.approx(a.score[5, -1], abs=1e-6)


def test_enhanced_prediction_uses_each_members_own_output(data, fitted):
    pytest.importorskip("torch")
    window = data.features.values[5, -SEQUENCE_LENGTH:]
    prob, score, _ = fitted.predict_one(window)
    result = get_lstm_enhanced_prediction(None, None, window, lstm_model=fitted)
    assert result.members["lstm"] == {"probability": prob, "score": score}
    assert result.members["trees"] is None and result.probability == round(prob, 4)
    assert len(result.lstm_key_days) == 3 and result.unavailable == {"trees": "no tree model"}


def test_train_lstm_array_api_splits_by_day():
    pytest.importorskip("torch")
    from kstock.ml.lstm_predictor import train_lstm

    rng = np.random.default_rng(0)
    n_tickers, n_days = 12, 120
    X = rng.normal(size=(n_tickers * n_days, 20, 6)).astype(np.float32)
    y = (X[:, -1, 0] > 0.5).astype(np.float32)
    days = np.tile(np.arange(n_days), n_tickers)
    model, result = train_lstm(X, y, epochs=2, batch_size=128, patience=2, days=days, params=tiny())
    assert model is not None and result.epochs_trained == 2
    assert result.scaler_mean.shape == (6,)
    assert result.val_samples == n_tickers * 18  # the last 15 % of the 120 days, all tickers
    assert result.train_samples == n_tickers * (120 - 18 - 5)  # minus the embargo


def test_registered_kind_and_cli_options():
    pytest.importorskip("torch")
    from kstock.config import Settings
    from kstock.ml.models import create_model, known_kinds, model_class

    settings = Settings.from_env({"KSTOCK_LABEL_HORIZON": "7", "KSTOCK_USE_GPU": "false"}, dotenv=None)
    model = create_model("lstm", settings, epochs=3, seed=4, progress_bar=False)
    assert "lstm" in known_kinds() and isinstance(model, LSTMPredictor)
    assert model.params.max_epochs == 3 and model.params.embargo == 7 and model.device == "cpu"
    assert model_class("lstm") is LSTMPredictor
