"""The LSTM learning each day's order: day-grouped batches, the per-day correlation loss, the label choice.

Trainings are tiny (hidden 8, a few thousand samples); they check what the options do, not skill.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kstock.features.labels import cross_sectional_rank
from kstock.ml.evaluation import metrics as mt
from kstock.ml.lstm import LSTMParams, LSTMPredictor


def tiny(**changes) -> LSTMParams:
    base = dict(hidden_size=8, samples_per_epoch=4096, batch_size=256, max_val_samples=1500, max_epochs=3,
                patience=3, n_threads=1, time_budget_s=None, learning_rate=1e-2)
    return LSTMParams(**{**base, **changes})


def test_params_refuse_an_unknown_label_or_a_negative_weight() -> None:
    with pytest.raises(ValueError, match="label"):
        LSTMParams(label="open")
    with pytest.raises(ValueError, match="corr_weight"):
        LSTMParams(corr_weight=-1)
    assert LSTMParams.from_dict({"label": "tradeable", "corr_weight": 0.5}).label == "tradeable"
    assert LSTMParams.from_dict({"hidden_size": 8}).label == "close"  # a model saved before the options


def test_day_batches_are_whole_days_of_distinct_names() -> None:
    from kstock.ml.lstm.ranking import day_batches

    rng = np.random.default_rng(0)
    sample_days = np.repeat(np.arange(50), 40)  # 50 days × 40 names
    train_idx = np.flatnonzero(sample_days % 7 != 3)  # some days are not training days
    batches = list(day_batches(train_idx, sample_days, per_epoch=3000, batch_size=256, names_per_day=32, rng=rng))
    seen = np.concatenate([b for b, _ in batches])
    assert seen.size >= 3000 and set(seen) <= set(train_idx)
    for idx, group in batches:
        assert idx.size <= 256 and group.size == idx.size
        for g in np.unique(group):
            members = idx[group == g]
            assert np.unique(sample_days[members]).size == 1  # one day per group
            assert members.size == 32 and np.unique(members).size == 32  # distinct names


def test_day_corr_loss_is_the_mean_per_day_pearson() -> None:
    torch = pytest.importorskip("torch")
    from kstock.ml.lstm.ranking import day_corr_loss

    rng = np.random.default_rng(1)
    score, target = rng.normal(size=96), rng.normal(size=96)
    group = np.repeat(np.arange(3), 32)
    expected = 1 - np.mean([np.corrcoef(score[group == g], target[group == g])[0, 1] for g in range(3)])
    got = day_corr_loss(torch.tensor(score), torch.tensor(target), torch.tensor(group))
    assert float(got) == pytest.approx(expected, abs=1e-9)
    t = torch.tensor(target)
    assert float(day_corr_loss(t * 3 + 1, t, torch.tensor(group))) == pytest.approx(0.0, abs=1e-9)
    assert float(day_corr_loss(-t, t, torch.tensor(group))) == pytest.approx(2.0, abs=1e-9)
    flat = torch.zeros(96, dtype=torch.float64, requires_grad=True)  # constant: no correlation, finite gradient
    loss = day_corr_loss(flat, t, torch.tensor(group))
    loss.backward()
    assert float(loss.detach()) == pytest.approx(1.0) and torch.isfinite(flat.grad).all()


def _signal_labels(data, tradeable_sign: float, close_sign: float):
    """Labels made from a visible feature (today's return): the two horizons pointing either way."""
    signal = data.features.values[:, :, data.features.names.index("ret_1d")].astype(float)
    signal = np.where(data.labels.valid, signal, np.nan)
    fwd, tradeable = close_sign * signal, tradeable_sign * signal
    rank = cross_sectional_rank(fwd)
    up = np.where(np.isnan(rank), np.nan, (rank > 0.5).astype(float))
    labels = dataclasses.replace(data.labels, forward_return=fwd, tradeable_return=tradeable, rank=rank, up=up)
    return dataclasses.replace(data, labels=labels), signal


def _rank_ic_with(model: LSTMPredictor, data, signal: np.ndarray) -> float:
    days = np.arange(len(data.dates) - 30, len(data.dates))
    out = model.predict_days(data, days)
    return mt.ic_summary(mt.daily_rank_ic(out.score, signal[:, days]))["mean"]


@pytest.mark.parametrize("corr_weight", [0.0, 1.0])
def test_the_score_learns_the_label_it_is_given(deep_model_data, deep_train_days, corr_weight: float) -> None:
    """The next-day label points one way and the close-to-close label the other: the score follows the one
    asked for, with the random batches and with the day groups and correlation loss alike."""
    pytest.importorskip("torch")
    data, signal = _signal_labels(deep_model_data, tradeable_sign=1.0, close_sign=-1.0)
    tradeable = LSTMPredictor(tiny(label="tradeable", corr_weight=corr_weight), seed=2, progress_bar=False)
    metrics = tradeable.fit(data, deep_train_days)
    assert metrics["val_rank_ic"] > 0.3  # against the rank it was trained on
    assert _rank_ic_with(tradeable, data, signal) > 0.3
    close = LSTMPredictor(tiny(label="close", corr_weight=corr_weight), seed=2, progress_bar=False)
    close.fit(data, deep_train_days)
    assert _rank_ic_with(close, data, signal) < -0.3


def test_with_the_correlation_loss_the_best_epoch_is_the_best_rank_ic(deep_model_data, deep_train_days) -> None:
    pytest.importorskip("torch")
    model = LSTMPredictor(tiny(corr_weight=1.0, max_epochs=3), seed=4, progress_bar=False)
    model.fit(deep_model_data, deep_train_days)
    history = model.train_result.history
    best = max(range(len(history)), key=lambda k: history[k]["val_rank_ic"])
    assert model.train_result.best_epoch == best + 1


def test_samples_without_the_next_day_target_are_left_out(deep_model_data, deep_train_days) -> None:
    """Real data lacks the next-day return where the close-to-close one exists (a halt on t+1, the last day):
    learning the next-day label, those samples are not trained on — the loss stays finite."""
    pytest.importorskip("torch")
    tradeable = deep_model_data.labels.tradeable_return.copy()
    holes = np.random.default_rng(5).random(tradeable.shape) < 0.05
    tradeable[holes] = np.nan
    data = dataclasses.replace(deep_model_data,
                               labels=dataclasses.replace(deep_model_data.labels, tradeable_return=tradeable))
    for corr_weight in (0.0, 1.0):
        model = LSTMPredictor(tiny(label="tradeable", corr_weight=corr_weight, max_epochs=1), seed=1,
                              progress_bar=False)
        fit_mask, val_mask = model.training_samples(data, deep_train_days)
        assert not (fit_mask & holes).any() and not (val_mask & holes).any()
        assert np.isfinite(model.fit(data, deep_train_days)["val_loss"])
    close = LSTMPredictor(tiny(label="close"), seed=1)
    assert (close.training_samples(data, deep_train_days)[0] & holes).any()  # the close label keeps them
