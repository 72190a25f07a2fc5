"""The sector model's three-class call (:mod:`kstock.ml.sector.decision`): undoing the training's class weights
turns probabilities trained as if the classes were equally common back into a call that is right at least as
often as always-HOLD; held-out days judge whether it earned being shown. Pure numpy, no torch."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.ml.sector.decision import HOLD, ClassDecision

SELL, BUY = 0, 2


def _weighted_training(n: int = 30_000, seed: int = 0, signal: float = 0.5):
    """Labels drawn from a known posterior (HOLD the majority), and the probabilities a model trained with
    inverse-frequency class weights learns: that posterior with each class multiplied by its weight, renormalised."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.22, 0.55, 0.23])
    logits = np.log(prior) + signal * rng.normal(size=(n, 3))
    posterior = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(posterior, axis=1)).sum(axis=1)
    weights = 1 / (3 * np.bincount(y, minlength=3) / n)
    trained = posterior * weights
    return trained / trained.sum(axis=1, keepdims=True), y, weights


def test_undoing_the_class_weights_beats_always_hold_where_the_argmax_did_not():
    probs, y, weights = _weighted_training()
    assert np.mean(probs.argmax(axis=1) == y) < np.mean(y == HOLD)  # the weighted argmax over-calls SELL/BUY
    decision = ClassDecision.undoing(weights)
    assert decision.offsets[HOLD] == 0 and decision.offsets[SELL] < 0 and decision.offsets[BUY] < 0
    judged = decision.judged(probs, y)
    assert judged.offsets == decision.offsets
    assert judged.hold_accuracy == pytest.approx(np.mean(y == HOLD), abs=1e-12)
    assert judged.accuracy == pytest.approx(np.mean(decision.decide(probs) == y), abs=1e-12)
    assert judged.accuracy > judged.hold_accuracy and 0 < judged.call_share < 1 and judged.earned


def test_a_model_that_knows_nothing_earns_no_call():
    """Probabilities with no signal: undoing the weights leaves (almost) always HOLD, which is no call."""
    probs, y, weights = _weighted_training(signal=0.0, seed=1)
    judged = ClassDecision.undoing(weights).judged(probs, y)
    assert not judged.earned
    assert judged.accuracy <= judged.hold_accuracy + 1e-12


def test_offsets_are_minus_log_weight_relative_to_hold_and_an_absent_class_is_never_called():
    decision = ClassDecision.undoing(np.array([2.0, 0.5, 1.0]))
    assert decision.offsets == pytest.approx((-np.log(4.0), 0.0, -np.log(2.0)))
    never_buy = ClassDecision.undoing(np.array([1.0, 1.0, 0.0]))
    assert never_buy.offsets[BUY] == -np.inf
    assert never_buy.decide(np.array([[0.1, 0.2, 0.7]])).tolist() == [HOLD]


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
    assert not ClassDecision((0.0, 0.0, 0.0)).judged(np.zeros((0, 3)), np.zeros(0)).earned  # nothing to judge on


def test_the_posterior_is_the_probability_at_the_real_class_frequencies():
    """Undoing the weights recovers the posterior the labels were drawn from (the probability a call shows)."""
    rng = np.random.default_rng(2)
    truth = rng.dirichlet(np.ones(3), 50)
    weights = np.array([1.5, 0.6, 1.4])
    trained = truth * weights / (truth * weights).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ClassDecision.undoing(weights).posterior(trained), truth, atol=1e-12)
