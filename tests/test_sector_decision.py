"""The sector model's three-class call (:mod:`kstock.ml.sector.decision`): offsets chosen on the earlier half of
its held-out days make the call right at least as often as always-HOLD; the later half judges whether it earned
being shown. Pure numpy, no torch."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.ml.sector.decision import BUY, HOLD, SELL, ClassDecision, best_offsets, fit_decision


def _over_calling(n: int = 24_000, days: int = 120, seed: int = 0, signal: float = 0.8):
    """Probabilities that know the class a little but favour SELL and BUY (as class weights make them)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.22, 0.55, 0.23])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += signal
    logits[:, [SELL, BUY]] += 0.6
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, y, np.repeat(np.arange(days), n // days)


def test_offsets_turn_an_over_calling_model_into_a_call_that_beats_always_hold():
    probs, y, days = _over_calling()
    assert np.mean(probs.argmax(axis=1) == y) < np.mean(y == HOLD)  # its plain argmax is below always-HOLD
    decision = fit_decision(probs, y, days)
    sell, hold, buy = decision.offsets
    assert hold == 0 and sell < 0 and buy < 0  # SELL and BUY are called less often
    judged = days > np.median(np.unique(days))
    assert decision.hold_accuracy == pytest.approx(np.mean(y[judged] == HOLD), abs=1e-12)
    assert decision.accuracy == pytest.approx(np.mean(decision.decide(probs[judged]) == y[judged]), abs=1e-12)
    assert decision.accuracy > decision.hold_accuracy and 0 < decision.call_share < 1 and decision.earned


def test_a_model_that_knows_nothing_earns_no_call():
    """Random probabilities: the best offsets on the first half answer HOLD (or nearly), and the second half
    does not see the call beat always-HOLD, so it is not shown."""
    rng = np.random.default_rng(1)
    n = 12_000
    y = rng.choice(3, n, p=[0.25, 0.5, 0.25])
    probs = rng.dirichlet(np.ones(3), n)
    decision = fit_decision(probs, y, np.repeat(np.arange(60), n // 60))
    assert not decision.earned
    assert decision.accuracy <= decision.hold_accuracy + 0.01


def test_the_best_offsets_maximise_accuracy_and_prefer_small_ones():
    probs = np.array([[0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.3, 0.2]])
    assert best_offsets(probs, np.array([1, 2, 0])) == (0.0, 0.0, 0.0)  # the argmax is already right everywhere
    sell, _, buy = best_offsets(probs, np.array([1, 1, 1]))  # HOLD everywhere: the smallest offsets that get it
    assert ClassDecision((sell, 0.0, buy)).decide(probs).tolist() == [1, 1, 1]
    assert sell == pytest.approx(-0.6) and buy == pytest.approx(-0.7)  # past log(5/3) ≈ 0.51, log(2) ≈ 0.69


def test_decide_is_nan_where_there_is_no_prediction_and_round_trips():
    decision = ClassDecision((-0.5, 0.0, -0.2), 0.58, 0.55, 0.2)
    probs = np.array([[[0.3, 0.4, 0.3], [np.nan, np.nan, np.nan]], [[0.6, 0.2, 0.2], [0.1, 0.2, 0.7]]])
    call = decision.decide(probs)
    assert call.shape == (2, 2) and np.isnan(call[0, 1])
    assert call[0, 0] == HOLD and call[1, 0] == SELL and call[1, 1] == BUY
    again = ClassDecision.from_dict(decision.as_dict())
    assert again == decision and again.earned
    assert ClassDecision.from_dict(None) is None
    assert not ClassDecision((-6.0, 0.0, -6.0), 0.56, 0.55, 0.0).earned  # never calls SELL or BUY: no call


def test_too_few_days_to_judge_leave_the_plain_argmax_unearned():
    probs, y, _ = _over_calling(n=600)
    decision = fit_decision(probs, y, np.zeros(600, dtype=int))
    assert decision.offsets == (0.0, 0.0, 0.0) and not decision.earned
