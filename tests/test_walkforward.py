"""Walk-forward folds (embargo), the evaluator's metric wiring and the shuffled-label leak check."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from kstock.errors import KstockError
from kstock.ml.base import ATTENTION, CLASS_PROBS, MemberOutput
from kstock.ml.evaluation.folds import walk_forward_folds, warmup_fold
from kstock.ml.evaluation.walkforward import (
    BASELINE_RANKINGS,
    OutOfSample,
    baseline_report,
    run_folds,
    score_predictions,
    shuffled_label_check,
)
from kstock.ml.trees import TreeParams, TreePredictor
from support.workspace import FAST_TREES, synth_settings

HORIZON = 5


def business_days(n: int, start: str = "2023-01-02") -> np.ndarray:
    return np.busday_offset(np.datetime64(start, "D"), np.arange(n), roll="forward")


# -- folds ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_days", "n_folds", "embargo"), [(400, 4, 5), (300, 2, 5), (1000, 7, 10), (200, 1, 5)])
def test_folds_respect_the_embargo(n_days: int, n_folds: int, embargo: int) -> None:
    dates = business_days(n_days)
    folds = walk_forward_folds(dates, n_folds, embargo=embargo)
    assert len(folds) == n_folds
    for fold in folds:
        train_days = np.flatnonzero(fold.train_mask(n_days))
        assert train_days.size > 0
        # every training label window (t → t + horizon) closes before the first test day
        assert (train_days + HORIZON < fold.test_start).all()
        assert (train_days + embargo < fold.test_start).all()
        assert fold.test_start <= fold.test_end


def test_folds_are_contiguous_ordered_and_disjoint() -> None:
    dates = business_days(500)
    folds = walk_forward_folds(dates, 4, embargo=5)
    assert folds[-1].test_end == len(dates) - 1
    for a, b in itertools.pairwise(folds):
        assert b.test_start == a.test_end + 1
        assert a.train_end < b.train_end  # expanding window
    covered = np.concatenate([f.test_days() for f in folds])
    assert len(covered) == len(set(covered.tolist()))
    assert (np.diff(covered) == 1).all()
    sizes = [f.test_end - f.test_start + 1 for f in folds]
    assert max(sizes) - min(sizes) <= 1


def test_folds_within_start_and_end() -> None:
    dates = business_days(500)
    folds = walk_forward_folds(dates, 3, start=str(dates[300]), end=str(dates[449]), embargo=5)
    assert folds[0].test_start == 300
    assert folds[-1].test_end == 449
    assert folds[0].describe(dates) == {"train_start": str(dates[0]), "train_end": str(dates[294]),
                                        "test_start": str(dates[300]), "test_end": str(dates[folds[0].test_end])}
    # an end on a weekend ends the last fold on the Friday before
    saturday = np.datetime64("2024-06-01")
    folds = walk_forward_folds(dates, 2, end=saturday)
    assert dates[folds[-1].test_end] == np.datetime64("2024-05-31")


def test_warmup_fold_ends_with_the_first_folds_training_and_keeps_the_embargo() -> None:
    dates = business_days(1000)
    first = walk_forward_folds(dates, 4, start=str(dates[500]), embargo=5)[0]
    warm = warmup_fold(first, embargo=5)
    assert warm is not None and warm.test_end == first.train_end  # its labels end before `first` starts
    assert warm.test_end - warm.test_start == first.test_end - first.test_start  # as long as the fold
    assert (np.flatnonzero(warm.train_mask(len(dates))) + 5 < warm.test_start).all()
    short = walk_forward_folds(dates, 4, start=str(dates[140]), embargo=5)[0]  # history for ~10 days only
    assert warmup_fold(short, embargo=5) is None


def test_too_few_days_is_a_clear_error() -> None:
    with pytest.raises(KstockError, match="not enough days"):
        walk_forward_folds(business_days(130), 4)
    with pytest.raises(KstockError, match="fewer folds"):
        walk_forward_folds(business_days(400), 4, start="2030-01-01")
    with pytest.raises(KstockError, match="at least 1"):
        walk_forward_folds(business_days(400), 0)


# -- run_folds: fresh model per fold, trained on the past only ------------------------------------------
class SpyModel:
    """Records what it was trained on; predicts the 5-day-return feature as score (any values do)."""

    fits: ClassVar[list[np.ndarray]] = []

    def fit(self, data, train_days: np.ndarray) -> dict:
        SpyModel.fits.append(train_days.copy())
        return {}

    def predict_days(self, data, days: np.ndarray) -> MemberOutput:
        values = data.features.values[:, days, 1].astype(float)
        return MemberOutput(probability=np.full(values.shape, 0.5), score=values)


def test_run_folds_trains_each_fold_on_the_past_only(synth_services) -> None:
    data = synth_services.model_data()
    folds = walk_forward_folds(data.dates, 3, embargo=HORIZON)
    SpyModel.fits = []
    oos = run_folds(SpyModel, data, folds)
    assert len(SpyModel.fits) == 3
    for fold, train in zip(folds, SpyModel.fits, strict=True):
        train_idx = np.flatnonzero(train)
        assert train_idx.max() + HORIZON < fold.test_start
        # the training samples' labels never use a price from the test block
        samples = data.sample_mask(train)
        assert not samples[:, fold.test_start - HORIZON:].any()
    tested = np.zeros(len(data.dates), dtype=bool)
    for f in folds:
        tested[f.test_start : f.test_end + 1] = True
    assert np.isnan(oos.score[:, ~tested]).all()
    assert np.isfinite(oos.score[:, tested]).any()


class ExplainingModel(SpyModel):
    """A deep member's shape: class probabilities the evaluator scores, attention it does not."""

    alive: ClassVar[int] = 0
    most_alive: ClassVar[int] = 0

    def __init__(self) -> None:
        ExplainingModel.alive += 1
        ExplainingModel.most_alive = max(ExplainingModel.most_alive, ExplainingModel.alive)

    def __del__(self) -> None:
        ExplainingModel.alive -= 1

    def predict_days(self, data, days: np.ndarray) -> MemberOutput:
        out = super().predict_days(data, days)
        n, t = out.score.shape
        out.extras = {CLASS_PROBS: np.full((n, t, 3), 1 / 3), ATTENTION: np.full((n, t, 20), 0.05)}
        return out


def test_run_folds_streams_fold_by_fold_in_float32(synth_services) -> None:
    """The whole-history evaluation stays bounded: float32 outputs, one fold's model alive at a time,
    and only the extras the evaluator reads (the LSTM's (N, T, 20) attention is not kept)."""
    data = synth_services.model_data()
    folds = walk_forward_folds(data.dates, 3, embargo=HORIZON)
    ExplainingModel.alive = ExplainingModel.most_alive = 0
    oos = run_folds(ExplainingModel, data, folds)
    assert ExplainingModel.most_alive == 1
    assert oos.score.dtype == oos.probability.dtype == np.float32
    assert set(oos.extras) == {CLASS_PROBS}
    assert oos.extras[CLASS_PROBS].dtype == np.float32
    assert oos.extras[CLASS_PROBS].shape == (*oos.score.shape, 3)
    last = folds[-1].test_days()
    np.testing.assert_array_equal(oos.score[:, last], data.features.values[:, last, 1].astype(np.float32))


# -- metric wiring ------------------------------------------------------------------------------------
def test_oracle_score_has_rank_ic_one_and_random_zero(synth_services) -> None:
    data = synth_services.model_data()
    settings = synth_services.settings
    folds = walk_forward_folds(data.dates, 2, embargo=HORIZON)
    fwd = data.labels.forward_return
    oracle = OutOfSample(probability=np.where(np.isnan(data.labels.up), np.nan, data.labels.up), score=fwd.copy())
    report = score_predictions(oracle, data, folds, settings)
    assert report["rank_ic_mean"] == pytest.approx(1.0)
    assert report["ic_mean"] > 0.95
    assert report["auc"] == pytest.approx(1.0)
    assert report["accuracy"] == pytest.approx(1.0)
    assert report["top_decile_hit"] > 0.9
    assert len(report["folds"]) == 2
    for fold_report in report["folds"]:
        assert fold_report["rank_ic_mean"] == pytest.approx(1.0)
        assert set(fold_report["backtest"]) >= {"cagr", "sharpe", "max_drawdown", "turnover"}
    oracle_backtest = report["backtest"]

    rng = np.random.default_rng(0)
    noise = OutOfSample(probability=rng.uniform(size=fwd.shape), score=rng.normal(size=fwd.shape))
    report = score_predictions(noise, data, folds, settings)
    assert abs(report["rank_ic_mean"]) < 0.05
    assert abs(report["auc"] - 0.5) < 0.05
    assert report["samples"] == score_predictions(oracle, data, folds, settings)["samples"]
    # knowing the next five days' returns makes a better book than noise, even bought a day late
    assert oracle_backtest["cagr"] > report["backtest"]["cagr"]


def test_baselines_are_scored_the_same_way(synth_services) -> None:
    data = synth_services.model_data()
    folds = walk_forward_folds(data.dates, 2, embargo=HORIZON)
    report = baseline_report(data, folds, synth_services.settings)
    assert set(report) == {*BASELINE_RANKINGS, "kospi", "equal_weight"}
    for name in BASELINE_RANKINGS:
        assert np.isfinite(report[name]["rank_ic_mean"])
        assert "auc" not in report[name]
        assert set(report[name]["backtest"]) >= {"cagr", "sharpe", "max_drawdown", "turnover"}
    assert set(report["kospi"]["backtest"]) >= {"cagr", "sharpe", "max_drawdown"}
    # momentum20 is exactly the ret_20d feature ranked: check against a direct computation
    from kstock.features.tabular import FEATURE_NAMES
    from kstock.ml.evaluation import metrics as mt

    days = np.zeros(len(data.dates), dtype=bool)
    for f in folds:
        days[f.test_start : f.test_end + 1] = True
    samples = data.sample_mask(days)
    momentum = np.where(samples, data.features.values[:, :, FEATURE_NAMES.index("ret_20d")], np.nan)[:, days]
    expected = mt.ic_summary(mt.daily_rank_ic(momentum, data.labels.forward_return[:, days]))["mean"]
    assert report["momentum20"]["rank_ic_mean"] == pytest.approx(expected)


# -- the leak detector: shuffled labels score ≈ 0, the real model clearly above -----------------------------
@pytest.fixture(scope="module")
def wide_market(tmp_path_factory: pytest.TempPathFactory):
    """150 tickers over 2 years: enough names per day for a Rank IC to be measured to ±0.03."""
    from kstock.market.store import MarketStore
    from kstock.market.synthetic import generate_market
    from kstock.service.context import Services

    root: Path = tmp_path_factory.mktemp("wide")
    store = MarketStore(root / "s.db")
    store.ingest(generate_market(n_tickers=150, years=2.0, seed=2), source="t")
    services = Services(synth_settings(root), store)
    yield services.model_data(), services.settings
    services.close()


def fast_trees() -> TreePredictor:
    return TreePredictor(TreeParams(**FAST_TREES), n_jobs=1)


@pytest.mark.slow
def test_shuffled_labels_score_zero_while_the_model_finds_the_planted_structure(wide_market) -> None:
    data, settings = wide_market
    folds = walk_forward_folds(data.dates, 2, embargo=HORIZON)
    up_before, rank_before = data.labels.up.copy(), data.labels.rank.copy()
    shuffled = shuffled_label_check(fast_trees, data, folds, seed=0)
    np.testing.assert_array_equal(data.labels.up, up_before)  # labels restored
    np.testing.assert_array_equal(data.labels.rank, rank_before)
    assert abs(shuffled) < 0.05
    real = score_predictions(run_folds(fast_trees, data, folds), data, folds, settings)
    assert real["rank_ic_mean"] > 0.05
    assert real["rank_ic_mean"] > shuffled + 0.04
    assert real["rank_ic_tradeable_mean"] > 0.03


# -- tuning stays inside the training period ----------------------------------------------------------------
def test_tuning_folds_end_before_the_evaluation_period(synth_services, monkeypatch, tmp_path) -> None:
    """`kstock tune --end D`: no inner test label may reach past D (the evaluation's first day)."""
    optuna = pytest.importorskip("optuna")
    from kstock.ml.trees import tuning

    data = synth_services.model_data()
    seen = []

    def fake_run_folds(make_model, d, folds, on_fold=None):
        seen.extend(folds)
        n = d.panel.close.shape
        return OutOfSample(np.full(n, np.nan), np.random.default_rng(0).normal(size=n))

    monkeypatch.setattr(tuning, "run_folds", fake_run_folds)
    end = data.dates[300]
    out = tuning.tune_trees(data, trials=1, end=str(end), storage=f"sqlite:///{tmp_path / 'o.db'}",
                            model_dir=tmp_path, embargo=HORIZON)
    assert seen
    assert max(f.test_end for f in seen) + HORIZON <= 300
    # the trials score the return from the next day: its window ends one day later and still before D
    assert max(f.test_end for f in seen) + 1 + HORIZON <= 300
    assert out["trials"] == 1
    assert optuna.load_study(study_name="kstock-trees", storage=f"sqlite:///{tmp_path / 'o.db'}").trials
