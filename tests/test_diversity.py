"""Diversity of the ensemble's members: agreement with the trees and the blend's gain from the next open."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import round_trip_returns
from kstock.ml.evaluation.diversity import diversity_report
from kstock.ml.evaluation.folds import walk_forward_folds


@pytest.fixture(scope="module")
def case(deep_model_data):
    data = deep_model_data
    folds = walk_forward_folds(data.dates, 2, None, None, embargo=5)
    rng = np.random.default_rng(0)
    trees = np.where(data.universe[:, None], rng.normal(size=data.panel.close.shape), np.nan)
    return data, folds, trees, rng


def test_a_copy_of_the_trees_adds_nothing_and_a_reversed_one_disagrees(case) -> None:
    data, folds, trees, _ = case
    report = diversity_report({"trees": trees, "copy": trees * 2 + 1, "reversed": -trees}, trees, data, folds, 5)
    assert report["members"]["copy"]["folds"] == pytest.approx([1.0, 1.0], abs=1e-9)
    assert report["members"]["reversed"]["corr_with_trees"] == pytest.approx(-1.0, abs=1e-9)
    assert report["gain_over_trees"]["folds"] == pytest.approx([0.0, 0.0], abs=1e-12)  # the blend is the trees


def test_the_gain_is_measured_from_the_next_open(case) -> None:
    """A member that knows the next-open round trip: the blend with it ranks better than the trees by exactly
    the difference of the two daily Rank ICs against that return, fold by fold."""
    data, folds, trees, _ = case
    returns = round_trip_returns(data.panel, 5)
    oracle = np.where(data.universe[:, None], returns, np.nan)
    blend = np.nan_to_num(trees) * 0.01 + np.nan_to_num(oracle)
    report = diversity_report({"trees": trees, "oracle": oracle}, blend, data, folds, 5)
    for fold, gain, ics in zip(folds, report["gain_over_trees"]["folds"], report["next_open_rank_ic"]["folds"],
                               strict=True):
        days = fold.test_days()
        mask = np.zeros(len(data.dates), dtype=bool)
        mask[days] = True
        samples = data.sample_mask(mask)[:, days]
        trees_ic = mt.ic_summary(mt.daily_rank_ic(np.where(samples, trees[:, days], np.nan), returns[:, days]))
        assert ics["trees"] == pytest.approx(trees_ic["mean"], abs=1e-12)
        assert gain > 0.5  # the oracle's order beats random scores by far
    assert report["gain_over_trees"]["worst"] == min(report["gain_over_trees"]["folds"])


def test_nothing_to_compare_without_the_trees_or_a_second_member(case) -> None:
    data, folds, trees, _ = case
    assert diversity_report({"trees": trees}, trees, data, folds, 5) is None
    assert diversity_report({"lstm": trees, "sector": -trees}, trees, data, folds, 5) is None
