"""The sector model's three-class call: its most probable class after two offsets chosen on held-out days.

Why: the model is trained with inverse-frequency class weights and a focal loss. That buys macro-F1 (it does
learn SELL and BUY) at the price of calling them too often: its plain argmax was right less often than
answering HOLD every time (0.513 against 0.551 on the kospi folds). A reader takes a call at face value, so the
call should be right as often as the model can make it: SELL and BUY get an offset on their log-probability
(HOLD's is 0), chosen to maximise accuracy on the first half of the model's validation days; the second half,
days the offsets never saw, decides whether the call beat always-HOLD (``earned``) and may be shown. The
scores that feed the ensemble (P(BUY) − P(SELL)) are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kstock.features.labels import CLASS_NAMES

SELL, HOLD, BUY = (CLASS_NAMES.index(c) for c in ("SELL", "HOLD", "BUY"))
#: The offsets tried for SELL and for BUY (log-probability units; −6 makes a class practically never called).
OFFSET_GRID = np.round(np.arange(-6.0, 3.01, 0.1), 2)
#: Held-out samples a fit reads at most (a fixed, seeded subsample beyond it: the grid is 91 × 91 argmaxes).
MAX_FIT_SAMPLES = 40_000


@dataclass(frozen=True)
class ClassDecision:
    """Offsets for (SELL, HOLD, BUY), and how the call did on held-out days the offsets were not chosen on."""

    offsets: tuple[float, float, float] = (0.0, 0.0, 0.0)
    accuracy: float = float("nan")
    hold_accuracy: float = float("nan")
    call_share: float = float("nan")  # how often it calls SELL or BUY there

    @property
    def earned(self) -> bool:
        """Whether the call was right more often than always-HOLD on the days that judge it."""
        return bool(np.isfinite(self.accuracy) and self.accuracy > self.hold_accuracy and self.call_share > 0)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """The call (0 SELL, 1 HOLD, 2 BUY) for class probabilities (..., 3); NaN where a row is not finite."""
        probs = np.asarray(probs, dtype=float)
        finite = np.isfinite(probs).all(axis=-1)
        with np.errstate(divide="ignore"):
            adjusted = np.log(np.where(finite[..., None], probs, 1.0)) + np.asarray(self.offsets)
        return np.where(finite, np.argmax(adjusted, axis=-1), np.nan)

    def as_dict(self) -> dict[str, Any]:
        return {"offsets": list(self.offsets), "accuracy": self.accuracy, "hold_accuracy": self.hold_accuracy,
                "call_share": self.call_share, "earned": self.earned}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ClassDecision | None:
        if not d:
            return None
        return cls(tuple(float(x) for x in d["offsets"]), float(d["accuracy"]), float(d["hold_accuracy"]),
                   float(d["call_share"]))


def fit_decision(probs: np.ndarray, labels: np.ndarray, days: np.ndarray, seed: int = 0) -> ClassDecision:
    """Offsets chosen on the earlier half of the held-out days, judged on the later half (by date)."""
    probs, labels, days = np.asarray(probs, float), np.asarray(labels, int), np.asarray(days)
    if len(np.unique(days)) < 2:
        return ClassDecision()
    cut = np.median(np.unique(days))
    choose, judge = days <= cut, days > cut
    offsets = best_offsets(probs[choose], labels[choose], seed)
    decision = ClassDecision(offsets)
    call = decision.decide(probs[judge])
    truth = labels[judge]
    return ClassDecision(offsets, float(np.mean(call == truth)), float(np.mean(truth == HOLD)),
                         float(np.mean(call != HOLD)))


def best_offsets(probs: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """The (SELL, 0, BUY) offsets of the grid with the highest accuracy; ties go to the smallest offsets."""
    if len(labels) > MAX_FIT_SAMPLES:
        pick = np.random.default_rng(seed).choice(len(labels), MAX_FIT_SAMPLES, replace=False)
        probs, labels = probs[pick], labels[pick]
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    sell, hold, buy = logp[:, SELL], logp[:, HOLD], logp[:, BUY]
    best, best_key = (0.0, 0.0, 0.0), (-1.0, 0.0)
    for s in OFFSET_GRID:
        sell_s = sell + s
        sell_over_hold = sell_s >= hold
        for b in OFFSET_GRID:
            buy_b = buy + b  # np.argmax's order: the first of equal maxima wins, as in ClassDecision.decide
            pred = np.where(sell_over_hold & (sell_s >= buy_b), SELL, np.where(hold >= buy_b, HOLD, BUY))
            key = (float(np.mean(pred == labels)), -(abs(s) + abs(b)))
            if key > best_key:
                best, best_key = (float(s), 0.0, float(b)), key
    return best
