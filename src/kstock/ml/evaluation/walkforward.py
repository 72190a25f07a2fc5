"""The walk-forward evaluator: every model and every baseline scored on the same folds and samples.

For each fold a fresh model is trained on the past (up to the embargo) and predicts the test block.
The out-of-sample predictions of all folds are then scored together and per fold: AUC and accuracy
of ``probability``; IC, Rank IC (also against the return a subscriber can still capture, from t+1),
top-decile hit rate and a top-k backtest of ``score``; beside simple rankings, KOSPI buy-and-hold and
the equal-weighted universe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.base import CLASS_DECISION, CLASS_PROBS, MemberOutput
from kstock.ml.data import ModelData
from kstock.ml.evaluation import backtest as bt
from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import buy_calls_then
from kstock.ml.evaluation.folds import Fold
from kstock.ml.evaluation.ic_record import daily_next_open_ic
from kstock.ml.evaluation.tranche_book import backtest_followable

BASELINE_RANKINGS: dict[str, tuple[str, float]] = {
    "momentum20": ("ret_20d", 1.0),
    "reversal5": ("ret_5d", -1.0),
    "lowvol20": ("vol_20d", -1.0),
}


#: The member extras the evaluator reads (the sector model's class probabilities and decision). Others —
#: the LSTM's attention, (N, T, 20) — explain a served answer and are not kept across folds.
EVALUATED_EXTRAS = (CLASS_PROBS, CLASS_DECISION)


@dataclass
class OutOfSample:
    """A model's out-of-sample predictions over the whole panel (NaN outside the test blocks), float32."""

    probability: np.ndarray
    score: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, shape: tuple[int, ...]) -> OutOfSample:
        return cls(np.full(shape, np.nan, dtype=np.float32), np.full(shape, np.nan, dtype=np.float32))


def run_folds(
    make_model: Callable[[], Any],
    data: ModelData,
    folds: list[Fold],
    on_fold: Callable[[int, Fold], None] | None = None,
) -> OutOfSample:
    """Train a fresh model per fold and stitch its test-block predictions together.

    Streams fold by fold so the whole-history evaluation stays bounded: one fold's model is alive at a
    time, its test block is written into float32 arrays (a 25-year full market: 68 MB each) and only
    the extras the evaluator reads are kept.
    """
    shape = data.panel.close.shape
    oos = OutOfSample.empty(shape)
    for i, fold in enumerate(folds):
        if on_fold:
            on_fold(i, fold)
        model = make_model()
        model.fit(data, fold.train_mask(len(data.dates)))
        days = fold.test_days()
        out: MemberOutput = model.predict_days(data, days)
        del model  # before the next fold's is built
        oos.probability[:, days] = out.probability
        oos.score[:, days] = out.score
        for key in EVALUATED_EXTRAS:
            values = out.extras.get(key)
            if values is None:
                continue
            if key not in oos.extras:
                oos.extras[key] = np.full(values.shape[:1] + shape[1:] + values.shape[2:], np.nan, dtype=np.float32)
            oos.extras[key][:, days] = values
        del out
    return oos


def score_predictions(
    oos: OutOfSample, data: ModelData, folds: list[Fold], settings: Settings, with_probability: bool = True
) -> dict[str, Any]:
    """All metrics over the folds together, plus a per-fold breakdown."""
    calls = _buy_calls(oos.score, data, settings)  # once: every fold's book reads the same record
    overall = _metrics(oos, data, _days_of(folds, len(data.dates)), settings, with_probability, calls=calls)
    overall["folds"] = [
        {**fold.describe(data.dates),
         **_metrics(oos, data, _days_of([fold], len(data.dates)), settings, with_probability, backtest=True,
                    calls=calls)}
        for fold in folds
    ]
    return overall


def _buy_calls(score: np.ndarray, data: ModelData, settings: Settings) -> np.ndarray:
    """The 매수 calls the followable book may buy, with the record as it stood each day (the live rule)."""
    return buy_calls_then(np.where(data.universe[:, None], score, np.nan), data.panel, data.universe,
                          horizon=settings.label_horizon, min_traded_value=settings.min_traded_value)


def _days_of(folds: list[Fold], n_days: int) -> np.ndarray:
    mask = np.zeros(n_days, dtype=bool)
    for fold in folds:
        mask[fold.test_start : fold.test_end + 1] = True
    return mask


def _metrics(
    oos: OutOfSample, data: ModelData, days: np.ndarray, settings: Settings, with_probability: bool,
    backtest: bool = True, calls: np.ndarray | None = None,
) -> dict[str, Any]:
    samples = data.sample_mask(days)
    score = np.where(samples, oos.score, np.nan)
    fwd = np.where(samples, data.labels.forward_return, np.nan)
    tradeable = np.where(samples, data.labels.tradeable_return, np.nan)
    rank_ic = mt.ic_summary(mt.daily_rank_ic(score[:, days], fwd[:, days]))
    ic = mt.ic_summary(mt.daily_ic(score[:, days], fwd[:, days]))
    out: dict[str, Any] = {
        "rank_ic_mean": rank_ic["mean"], "rank_ic_ir": rank_ic["ir"], "ic_mean": ic["mean"], "ic_ir": ic["ir"],
        "rank_ic_tradeable_mean": mt.ic_summary(mt.daily_rank_ic(score[:, days], tradeable[:, days]))["mean"],
        # bought at the next open, sold at the open `horizon` days later: what a follower captures (the ledger's)
        "rank_ic_next_open": mt.ic_summary(daily_next_open_ic(score[:, days], data.panel, settings.label_horizon,
                                                              np.flatnonzero(days)))["mean"],
        "top_decile_hit": mt.top_decile_hit_rate(score[:, days], fwd[:, days]),
        "samples": int(samples.sum()), "days": int(days.sum()),
    }
    if with_probability:
        binary = mt.binary_metrics(np.where(samples, oos.probability, np.nan)[:, days], data.labels.up[:, days])
        out.update(auc=binary["auc"], accuracy=binary["accuracy"], positive_rate=binary["positive_rate"])
    if backtest:
        book_score = np.where(data.universe[:, None], oos.score, np.nan)
        out["backtest"] = _backtest(book_score, data, days, settings)
        calls = _buy_calls(oos.score, data, settings) if calls is None else calls
        out["followable"] = _followable(book_score, data, days, settings, calls)
    return out


def _followable(score: np.ndarray, data: ModelData, days: np.ndarray, settings: Settings,
                calls: np.ndarray) -> dict[str, float]:
    """The book a subscriber can follow (horizon-day tranches, hold buffer; see tranche_book), buying only the
    day's 매수 calls (``calls``, :func:`_buy_calls`), as the served book does."""
    idx = np.flatnonzero(days)
    result = backtest_followable(score, data.panel, k=settings.top_k, horizon=settings.label_horizon,
                                 min_traded_value=settings.min_traded_value,
                                 eligible=data.buyable(settings.min_traded_value), start=int(idx[0]), end=int(idx[-1]),
                                 buy_calls=calls)
    return result.as_dict()


def _backtest(score: np.ndarray, data: ModelData, days: np.ndarray, settings: Settings) -> dict[str, float]:
    idx = np.flatnonzero(days)
    result = bt.backtest_top_k(score, data.panel, k=settings.top_k, min_traded_value=settings.min_traded_value,
                               eligible=data.buyable(settings.min_traded_value), start=int(idx[0]), end=int(idx[-1]))
    return result.as_dict()


def baseline_report(data: ModelData, folds: list[Fold], settings: Settings) -> dict[str, Any]:
    """Simple rankings scored exactly like the models, KOSPI buy-and-hold and the equal-weighted universe."""
    days = _days_of(folds, len(data.dates))
    idx = np.flatnonzero(days)
    out: dict[str, Any] = {}
    for name, (feature, sign) in BASELINE_RANKINGS.items():
        values = sign * data.features.values[:, :, FEATURE_NAMES.index(feature)]
        oos = OutOfSample(np.full(values.shape, np.nan), np.asarray(values, dtype=float))
        out[name] = _metrics(oos, data, days, settings, with_probability=False)
    if data.market_close is not None:
        kospi = bt.buy_and_hold(data.market_close[idx[0] : idx[-1] + 2], data.dates[idx[0] : idx[-1] + 2])
        out["kospi"] = {"backtest": kospi.as_dict()}
    ew = bt.equal_weight_universe(data.panel, data.universe, min_traded_value=settings.min_traded_value,
                                  eligible=data.buyable(settings.min_traded_value), start=int(idx[0]), end=int(idx[-1]))
    out["equal_weight"] = {"backtest": ew.as_dict()}
    return out


def shuffled_label_check(make_model: Callable[[], Any], data: ModelData, folds: list[Fold],
                         seed: int = 0) -> float:
    """Rank IC of a model trained on labels shuffled within each day: should be ≈ 0 (a leak detector)."""
    rng = np.random.default_rng(seed)
    # every label a model may train on (the next-day one too, TreeParams.label), with one permutation
    original = (data.labels.up, data.labels.rank, data.labels.tradeable_return)
    up, rank, tradeable = (a.copy() for a in original)
    for t in range(up.shape[1]):
        rows = np.flatnonzero(~np.isnan(up[:, t]))
        perm = rng.permutation(rows)
        up[rows, t], rank[rows, t], tradeable[rows, t] = up[perm, t], rank[perm, t], tradeable[perm, t]
    data.labels.up, data.labels.rank, data.labels.tradeable_return = up, rank, tradeable
    try:
        oos = run_folds(make_model, data, folds)
    finally:
        data.labels.up, data.labels.rank, data.labels.tradeable_return = original
    days = _days_of(folds, len(data.dates))
    samples = data.sample_mask(days)
    score = np.where(samples, oos.score, np.nan)[:, days]
    return mt.ic_summary(mt.daily_rank_ic(score, data.labels.forward_return[:, days]))["mean"]
