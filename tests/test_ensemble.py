"""The ensemble (`kstock.ml.ensemble`): weights chosen on earlier folds only, the combine rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kstock.ml.ensemble import (
    choose_weights,
    combine,
    ensemble_out_of_sample,
    fold_weights,
    prior_weights,
    weight_grid,
)
from kstock.ml.evaluation.calibration import round_trip_returns
from kstock.ml.evaluation.folds import walk_forward_folds
from kstock.ml.evaluation.walkforward import OutOfSample


@pytest.fixture(scope="module")
def data(deep_model_data):
    return deep_model_data


def _fake_oos(data, quality: float, seed: int) -> OutOfSample:
    rng = np.random.default_rng(seed)
    fwd = np.nan_to_num(data.labels.forward_return)
    score = quality * fwd / (np.nanstd(fwd) + 1e-9) + rng.normal(size=fwd.shape)
    ok = data.sample_mask(np.ones(len(data.dates), dtype=bool), need_label=False)
    score = np.where(ok, score, np.nan)
    prob = np.where(ok, 1 / (1 + np.exp(-score)), np.nan)
    return OutOfSample(prob, score)


def test_weight_grid_is_the_simplex():
    grid = weight_grid(["a", "b", "c"], 0.5)
    assert len(grid) == 6 and all(abs(sum(w.values()) - 1) < 1e-12 for w in grid)
    assert weight_grid(["a"]) == [{"a": 1.0}]


def test_choose_weights_prefers_the_informative_member(data):
    folds = walk_forward_folds(data.dates, n_folds=3, embargo=5, min_train_days=150)
    good, noise = _fake_oos(data, 0.5, 1), _fake_oos(data, 0.0, 2)
    weights = choose_weights({"trees": good, "lstm": noise, "sector": None}, data, folds)
    assert set(weights) == {"trees", "lstm"} and weights["trees"] > weights["lstm"]
    assert abs(sum(weights.values()) - 1) < 1e-9


def test_weights_are_chosen_on_what_a_follower_captures(data):
    """One member knows the close-to-close return (the day t → t+1 move nobody who acts on the push can trade),
    the other the round trip from the next open: the weights go to the second."""
    folds = walk_forward_folds(data.dates, n_folds=3, embargo=5, min_train_days=150)
    ok = data.sample_mask(np.ones(len(data.dates), dtype=bool), need_label=False)
    rng = np.random.default_rng(3)

    def knowing(target: np.ndarray) -> OutOfSample:
        score = np.where(ok, np.nan_to_num(target) + 0.02 * rng.normal(size=target.shape), np.nan)
        return OutOfSample(np.where(ok, 0.5, np.nan), score)

    weights = choose_weights({"close": knowing(data.labels.forward_return),
                              "next_open": knowing(round_trip_returns(data.panel, 5))}, data, folds)
    assert weights["next_open"] > 0.5 > weights["close"], weights


def test_ensemble_weights_never_see_the_fold_they_score(data):
    folds = walk_forward_folds(data.dates, n_folds=3, embargo=5, min_train_days=150)
    members = {"trees": _fake_oos(data, 0.3, 1), "lstm": _fake_oos(data, 0.1, 2)}
    before = fold_weights(members, data, folds)
    assert before[0] == {"lstm": 0.2, "trees": 0.8}  # no earlier fold: the kinds table's weights
    # make the LSTM perfect on the last fold only: the weights used on that fold cannot know
    last = np.arange(folds[-1].test_start, folds[-1].test_end + 1)
    lstm = dataclasses.replace(members["lstm"], score=members["lstm"].score.copy())
    changed = {"trees": members["trees"], "lstm": lstm}
    changed["lstm"].score[:, last] = np.where(np.isfinite(changed["lstm"].score[:, last]),
                                              np.nan_to_num(round_trip_returns(data.panel, 5)[:, last]), np.nan)
    assert fold_weights(changed, data, folds) == before
    oos, served = ensemble_out_of_sample(changed, data, folds)
    assert served["lstm"] > before[-1]["lstm"]  # the served weights do use every fold
    # the ensemble's fold-2 block is exactly combine() with the weights chosen on folds 0-1
    expected = combine({n: _member(o, last) for n, o in changed.items()}, before[-1]).score
    np.testing.assert_allclose(oos.score[:, last], expected, equal_nan=True)
    assert np.isnan(oos.score[:, : folds[0].test_start]).all()


def _member(oos: OutOfSample, days: np.ndarray):
    from kstock.ml.base import MemberOutput

    return MemberOutput(oos.probability[:, days], oos.score[:, days])


def test_combine_keeps_a_genuine_0505(data):
    from kstock.ml.base import MemberOutput

    prob = np.full((3, 1), 0.505)
    out = combine({"trees": MemberOutput(np.full((3, 1), 0.7), np.array([[0.1], [0.2], [0.3]])),
                   "lstm": MemberOutput(prob, np.array([[0.3], [0.2], [0.1]])), "sector": None},
                  {"trees": 1.0, "lstm": 1.0, "sector": 1.0})
    np.testing.assert_allclose(out.probability, 0.6025)


def test_a_member_weighted_zero_answers_only_when_it_is_alone():
    from kstock.ml.base import MemberOutput
    from kstock.ml.ensemble import DEFAULT_WEIGHTS

    sector = MemberOutput(np.array([[0.2], [0.9]]), np.array([[-0.5], [0.5]]))
    trees = MemberOutput(np.array([[0.8], [0.1]]), np.array([[0.9], [0.1]]))
    assert DEFAULT_WEIGHTS["sector"] == 0.0  # measured: it lowered the ensemble's walk-forward Rank IC
    with_trees = combine({"trees": trees, "sector": sector})
    np.testing.assert_allclose(with_trees.probability, trees.probability)  # sector ignored beside trees
    alone = combine({"trees": None, "lstm": None, "sector": sector})
    np.testing.assert_allclose(alone.probability, sector.probability)
    np.testing.assert_allclose(alone.score, [[0.0], [1.0]])  # its own daily percentile
    with pytest.raises(ValueError):
        combine({"trees": None, "sector": None})


def test_weights_within_noise_of_the_best_lean_to_the_prior(data):
    """The one-standard-error rule: a member that is the trees plus a little noise ranks within noise of them at
    every weight, so the choice is the prior (the kinds table's 0.8 / 0.2, or one given), not the grid's noisy
    best; a member far better than the trees still takes the weight."""
    folds = walk_forward_folds(data.dates, n_folds=3, embargo=5, min_train_days=150)
    trees = _fake_oos(data, 0.3, 1)
    noise = 1e-3 * np.random.default_rng(5).normal(size=trees.score.shape)
    twin = dataclasses.replace(trees, score=trees.score + noise)
    assert choose_weights({"trees": trees, "lstm": twin}, data, folds) == {"lstm": 0.2, "trees": 0.8}
    assert fold_weights({"trees": trees, "lstm": twin}, data, folds, prior={"trees": 1, "lstm": 1})[0] == {
        "lstm": 0.5, "trees": 0.5}  # the first fold, with no earlier one, takes the prior it is given
    better = choose_weights({"trees": _fake_oos(data, 0.02, 1), "lstm": _fake_oos(data, 0.6, 2)}, data, folds)
    assert better["lstm"] > 0.5, better


def test_prior_weights_are_the_kinds_table_over_the_members_present():
    assert prior_weights(["lstm", "trees"]) == {"lstm": 0.2, "trees": 0.8}
    assert prior_weights(["sector", "trees"]) == {"sector": 0.0, "trees": 1.0}  # weight 0 stays 0
    assert prior_weights(["sector", "toy"]) == {"sector": 0.5, "toy": 0.5}  # nothing weighed: equal
    assert prior_weights(["a", "b"], {"a": 3, "b": 1}) == {"a": 0.75, "b": 0.25}
