"""The sector model's three-class call: its most probable class once the training's class weights are undone.

Why: the model is trained with inverse-frequency class weights (and a focal loss). That buys macro-F1 — it
does learn SELL and BUY — but it trains the probabilities as if the three classes were equally common, so
their plain argmax calls SELL and BUY far too often: it was right less often than answering HOLD every time
(0.485 against 0.536 on the kospi folds). Dividing each class's probability by its training weight (adding
−log w to its log-probability) is Bayes' rule back to the classes' real frequencies. It fits nothing, so it
cannot learn the last weeks' market direction: offsets fitted to accuracy on the model's latest validation
days did, and lost to always-HOLD in a fold whose market turned (docs/models.md, "The sector model"). The
validation days, which training never saw, judge whether the call beat always-HOLD (``earned``) and may be
shown. The score that feeds the ensemble (P(BUY) − P(SELL)) is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kstock.features.labels import CLASS_NAMES

HOLD = CLASS_NAMES.index("HOLD")


@dataclass(frozen=True)
class ClassDecision:
    """Offsets for (SELL, HOLD, BUY) log-probabilities, and how the call did on held-out days."""

    offsets: tuple[float, float, float] = (0.0, 0.0, 0.0)
    accuracy: float = float("nan")
    hold_accuracy: float = float("nan")
    call_share: float = float("nan")  # how often it called SELL or BUY there

    @classmethod
    def undoing(cls, class_weights: np.ndarray) -> ClassDecision:
        """The offsets that undo training weights ``class_weights`` (−log w, HOLD's set to 0); a class
        weighted 0 (absent from training) is never called."""
        w = np.asarray(class_weights, dtype=float)
        with np.errstate(divide="ignore"):
            offsets = np.where(w > 0, -np.log(np.where(w > 0, w, 1.0)), -np.inf)
        offsets = offsets - offsets[HOLD] if np.isfinite(offsets[HOLD]) else offsets
        return cls(tuple(float(x) for x in offsets))

    @property
    def earned(self) -> bool:
        """Whether the call was right more often than always-HOLD on the days that judged it."""
        return bool(np.isfinite(self.accuracy) and self.accuracy > self.hold_accuracy and self.call_share > 0)

    @classmethod
    def from_metrics(cls, class_weights: np.ndarray, metrics: dict[str, Any]) -> ClassDecision:
        """The weights undone, with the record of a validation pass (``decision_accuracy`` …, as
        :func:`kstock.ml.sector.runtime.evaluate_samples` writes it; NaN where it has none: not earned)."""
        nan = float("nan")
        return cls(cls.undoing(class_weights).offsets, float(metrics.get("decision_accuracy", nan)),
                   float(metrics.get("hold_baseline_accuracy", nan)), float(metrics.get("decision_call_share", nan)))

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """The call (0 SELL, 1 HOLD, 2 BUY) for class probabilities (..., 3); NaN where a row is not finite."""
        posterior = self.posterior(probs)
        finite = np.isfinite(posterior).all(axis=-1)
        return np.where(finite, np.argmax(np.nan_to_num(posterior), axis=-1), np.nan)

    def posterior(self, probs: np.ndarray) -> np.ndarray:
        """The probabilities with the offsets applied, renormalised: what the model believes of each class at
        the classes' real frequencies (the call's probability an analysis shows)."""
        probs = np.asarray(probs, dtype=float)
        adjusted = probs * np.exp(np.asarray(self.offsets))
        with np.errstate(invalid="ignore", divide="ignore"):
            return adjusted / adjusted.sum(axis=-1, keepdims=True)

    def judged(self, probs: np.ndarray, labels: np.ndarray) -> ClassDecision:
        """The same offsets with the call's accuracy, always-HOLD's and its SELL-or-BUY share on these samples."""
        labels = np.asarray(labels)
        if labels.size == 0:
            return ClassDecision(self.offsets)
        call = self.decide(probs)
        return ClassDecision(self.offsets, float(np.mean(call == labels)), float(np.mean(labels == HOLD)),
                             float(np.mean(call != HOLD)))

    def as_dict(self) -> dict[str, Any]:
        return {"offsets": list(self.offsets), "accuracy": self.accuracy, "hold_accuracy": self.hold_accuracy,
                "call_share": self.call_share, "earned": self.earned}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ClassDecision | None:
        if not d:
            return None
        return cls(tuple(float(x) for x in d["offsets"]), float(d["accuracy"]), float(d["hold_accuracy"]),
                   float(d["call_share"]))
