"""The cross-sectional transformer (issue 27): a day's stocks attend to each other. Tiny trainings here check
behaviour — shapes, seeding, persistence, that it learns the label it is given — not skill."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kstock.features.labels import cross_sectional_rank
from kstock.ml.cross import CrossParams
from kstock.ml.evaluation import metrics as mt

torch = pytest.importorskip("torch")

from kstock.ml.cross.predictor import CrossSectionPredictor  # noqa: E402


def tiny(**changes) -> CrossParams:
    base = dict(d_model=16, heads=2, layers=1, max_epochs=3, patience=3, n_threads=1, time_budget_s=None,
                learning_rate=3e-3, days_per_batch=4, min_names=5)
    return CrossParams(**{**base, **changes})


@pytest.fixture(scope="module")
def fitted(deep_model_data, deep_train_days):
    model = CrossSectionPredictor(tiny(), seed=3)
    model.fit(deep_model_data, deep_train_days)
    return model


def _last_days(data, n: int = 20) -> np.ndarray:
    return np.arange(len(data.dates) - n, len(data.dates))


def test_params_refuse_an_unknown_label_or_uneven_heads() -> None:
    with pytest.raises(ValueError, match="label"):
        CrossParams(label="open")
    with pytest.raises(ValueError, match="heads"):
        CrossParams(d_model=30, heads=4)


def test_predicts_every_common_stock_it_can_score(deep_model_data, fitted) -> None:
    data = deep_model_data
    out = fitted.predict_days(data, _last_days(data))
    assert out.score.shape == out.probability.shape == (len(data.panel.codes), 20)
    ok = np.isfinite(out.score)
    assert ok.sum() > 0.9 * data.universe.sum() * 20 and not ok[~data.universe].any()
    assert np.array_equal(ok, np.isfinite(out.probability))
    assert ((out.probability[ok] > 0) & (out.probability[ok] < 1)).all()
    assert fitted.train_metrics["best_epoch"] >= 1 and np.isfinite(fitted.train_metrics["val_rank_ic"])
    assert fitted.split["fit_end"] < fitted.split["val_start"]  # validation after training, by date


def test_same_seed_same_model(deep_model_data, deep_train_days, fitted) -> None:
    again = CrossSectionPredictor(tiny(), seed=3)
    again.fit(deep_model_data, deep_train_days)
    days = _last_days(deep_model_data)
    np.testing.assert_array_equal(again.predict_days(deep_model_data, days).score,
                                  fitted.predict_days(deep_model_data, days).score)


def test_save_load_gives_identical_outputs(deep_model_data, fitted, tmp_path) -> None:
    fitted.save(tmp_path)
    loaded = CrossSectionPredictor.load(tmp_path)
    days = _last_days(deep_model_data)
    a, b = fitted.predict_days(deep_model_data, days), loaded.predict_days(deep_model_data, days)
    np.testing.assert_allclose(a.score, b.score, rtol=0, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.probability, b.probability, rtol=0, atol=1e-6, equal_nan=True)
    assert loaded.params == fitted.params and loaded.split == fitted.split


def test_it_learns_the_next_day_label_it_is_given(deep_model_data, deep_train_days) -> None:
    """The next-day label is a visible feature's rank, the close-to-close label its reverse: the score follows
    the next-day one (the default label)."""
    data = deep_model_data
    signal = np.where(data.labels.valid, data.features.values[:, :, data.features.names.index("ret_1d")], np.nan)
    labels = dataclasses.replace(data.labels, tradeable_return=signal.astype(float),
                                 forward_return=-signal.astype(float), rank=cross_sectional_rank(-signal))
    taught = dataclasses.replace(data, labels=labels)
    model = CrossSectionPredictor(tiny(max_epochs=4), seed=1)
    assert model.fit(taught, deep_train_days)["val_rank_ic"] > 0.3
    days = _last_days(data, 30)
    ic = mt.ic_summary(mt.daily_rank_ic(model.predict_days(taught, days).score, signal[:, days]))["mean"]
    assert ic > 0.3


def test_too_few_days_are_refused_in_words(deep_model_data) -> None:
    from kstock.errors import KstockError

    days = np.zeros(len(deep_model_data.dates), dtype=bool)
    days[-12:] = True
    with pytest.raises(KstockError, match="학습할 날이 너무 적습니다"):
        CrossSectionPredictor(tiny()).fit(deep_model_data, days)


def test_create_takes_the_cli_options(deep_model_data) -> None:
    from kstock.config import Settings

    model = CrossSectionPredictor.create(Settings(), epochs=2, phase=1, resume=True, device="cpu", seed=4)
    assert model.params.max_epochs == 2 and model.seed == 4 and model.params.embargo >= 5
