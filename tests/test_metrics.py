"""Metrics on small cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.ml.evaluation.metrics import (
    binary_metrics,
    daily_ic,
    daily_rank_ic,
    ic_summary,
    multiclass_metrics,
    top_decile_hit_rate,
)

NAN = np.nan

# 4 tickers × 3 days. Day 0: target rises with score (IC = 1); day 1: falls with score (IC = -1);
# day 2: only two valid pairs (ticker 2's target and ticker 3's score are missing) → NaN.
SCORE = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0], [4.0, 4.0, NAN]])
TARGET = np.array([[0.01, 0.04, 0.1], [0.02, 0.03, 0.2], [0.03, 0.02, NAN], [0.04, 0.01, 0.4]])


def test_daily_ic_hand_case() -> None:
    ic = daily_ic(SCORE, TARGET, min_names=3)
    assert ic[0] == pytest.approx(1.0)
    assert ic[1] == pytest.approx(-1.0)
    assert np.isnan(ic[2])


def test_daily_rank_ic_hand_case() -> None:
    ric = daily_rank_ic(SCORE, TARGET, min_names=3)
    assert ric[0] == pytest.approx(1.0)
    assert ric[1] == pytest.approx(-1.0)
    assert np.isnan(ric[2])


def test_default_min_names_needs_five() -> None:
    assert np.isnan(daily_ic(SCORE, TARGET)).all()


def test_pearson_differs_from_spearman_on_an_outlier() -> None:
    # x = 1..4, y = 1, 2, 3, 100: deviations x (-1.5, -.5, .5, 1.5), y (-25.5, -24.5, -23.5, 73.5);
    # cov = 149, Σdx² = 5, Σdy² = 7205 → r = 149 / √36025. The ranks agree exactly → Rank IC 1.
    s = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([[1.0], [2.0], [3.0], [100.0]])
    assert daily_ic(s, y, min_names=4)[0] == pytest.approx(149 / np.sqrt(36025))
    assert daily_rank_ic(s, y, min_names=4)[0] == pytest.approx(1.0)


def test_rank_ic_averages_ties_and_ignores_unpaired_names() -> None:
    # scores 1, 1, 2, 3 → ranks 1.5, 1.5, 3, 4; targets 1, 2, 3, 4 → ranks 1..4.
    # dx = (-1, -1, .5, 1.5), dy = (-1.5, -.5, .5, 1.5): cov = 4.5, Σdx² = 4.5, Σdy² = 5 → r = √(4.5/5).
    # The fifth name has a score but no target: it must not shift the ranks.
    s = np.array([[1.0], [1.0], [2.0], [3.0], [99.0]])
    y = np.array([[1.0], [2.0], [3.0], [4.0], [NAN]])
    assert daily_rank_ic(s, y, min_names=4)[0] == pytest.approx(np.sqrt(4.5 / 5))


def test_constant_day_is_nan_not_zero() -> None:
    s = np.ones((6, 1))
    y = np.arange(6.0)[:, None]
    assert np.isnan(daily_ic(s, y)[0])
    assert np.isnan(daily_rank_ic(s, y)[0])


def test_ic_summary() -> None:
    out = ic_summary(np.array([0.1, NAN, 0.3, 0.2]))
    assert out["days"] == 3
    assert out["mean"] == pytest.approx(0.2)
    assert out["std"] == pytest.approx(0.1)  # ddof=1: √((0.01 + 0 + 0.01) / 2)
    assert out["ir"] == pytest.approx(2.0)
    assert np.isnan(ic_summary(np.array([NAN]))["mean"])


def test_top_decile_hit_rate_hand_case() -> None:
    # Day 0: 10 names → top 1 (score 9, return 0.5 > median 0.45) hits.
    # Day 1: 20 names → top 2 (scores 19, 18); returns 0.0 and 1.0 vs median ≈ 0.45 → one hit.
    # Day 2: 5 names only → skipped. Pooled: 2 hits / 3 picks.
    score = np.full((20, 3), NAN)
    ret = np.full((20, 3), NAN)
    score[:10, 0] = np.arange(10)
    ret[:10, 0] = np.arange(10) / 10 - np.array([0] * 9 + [0.4])  # top pick returns 0.5
    score[:, 1] = np.arange(20)
    ret[:, 1] = np.linspace(0, 1, 20)
    ret[19, 1] = 0.0  # the best-scored name loses
    ret[18, 1] = 1.0
    ret[17, 1] = 0.95
    score[:5, 2], ret[:5, 2] = np.arange(5), np.arange(5)
    assert np.nanmedian(ret[:10, 0]) == pytest.approx(0.45)
    assert top_decile_hit_rate(score, ret) == pytest.approx(2 / 3)


def test_binary_metrics_hand_case() -> None:
    # positives score 0.9, 0.4; negatives 0.6, 0.1, NaN label dropped.
    # AUC: pairs (pos, neg) = (.9>.6) (.9>.1) (.4<.6) (.4>.1) → 3/4.
    # accuracy at 0.5: .9→1 ✓, .4→0 ✗, .6→1 ✗, .1→0 ✓ → 0.5.
    p = np.array([[0.9, 0.4], [0.6, 0.1], [0.7, NAN]])
    y = np.array([[1.0, 1.0], [0.0, 0.0], [NAN, 1.0]])
    out = binary_metrics(p, y)
    assert out == {"auc": pytest.approx(0.75), "accuracy": pytest.approx(0.5), "positive_rate": 0.5, "n": 4}


def test_binary_metrics_single_class_has_nan_auc() -> None:
    out = binary_metrics(np.array([0.2, 0.8]), np.array([1.0, 1.0]))
    assert np.isnan(out["auc"])
    assert out["accuracy"] == pytest.approx(0.5)


def test_multiclass_metrics_and_hold_baseline() -> None:
    # true: S H H H B ; pred: S H B H H
    # per class recall: SELL 1/1, HOLD 2/3, BUY 0/1; accuracy 3/5.
    # F1: SELL 1; HOLD p=2/3 r=2/3 → 2/3; BUY p=0 → 0. macro = (1 + 2/3 + 0) / 3 = 5/9.
    # HOLD baseline: HOLD p=3/5 r=1 → F1 = 2·.6/(1.6) = .75; others 0 → macro .25; accuracy 3/5.
    true = np.array([0, 1, 1, 1, 2, NAN], dtype=float)
    pred = np.array([0, 1, 2, 1, 1, 2], dtype=float)
    out = multiclass_metrics(pred, true)
    assert out["accuracy"] == pytest.approx(0.6)
    assert out["macro_f1"] == pytest.approx(5 / 9)
    assert out["per_class_accuracy"] == pytest.approx([1.0, 2 / 3, 0.0])
    assert out["hold_baseline_macro_f1"] == pytest.approx(0.25)
    assert out["hold_baseline_accuracy"] == pytest.approx(0.6)
    assert out["n"] == 5


def test_random_scores_have_near_zero_ic() -> None:
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=(300, 200)), rng.normal(size=(300, 200))
    assert abs(ic_summary(daily_rank_ic(s, y))["mean"]) < 0.02
    assert abs(top_decile_hit_rate(s, y) - 0.5) < 0.03
