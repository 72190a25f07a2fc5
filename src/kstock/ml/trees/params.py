"""The tree models' parameters: the feature sets and training options a model can use, its booster
settings, and the tuned parameters Optuna writes (``<model_dir>/tuned/trees.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kstock.features.extra import EXTRA_FEATURE_NAMES
from kstock.features.tabular import FEATURE_NAMES

#: The named feature sets a tree model can read: the seed's 30, or those plus the extra ones.
FEATURE_SETS: dict[str, tuple[str, ...]] = {"base": FEATURE_NAMES, "extra": FEATURE_NAMES + EXTRA_FEATURE_NAMES}
#: What the score model is trained to do: regress the daily rank, or rank each day's tickers (pairwise).
OBJECTIVES = ("regression", "ranking")
#: Which forward return the score model learns: close t → close t+h, or from the next day (what a
#: subscriber who acts on the push can still capture; ``Labels.tradeable_return``).
TRAIN_LABELS = ("close", "tradeable")
#: How every tree model was trained before the three options above existed (read when loading one).
SEED_TRAINING = {"feature_set": "base", "objective": "regression", "label": "close", "score_seeds": 1}


@dataclass
class TreeParams:
    """Defaults chosen for speed on 2 cores with no loss in walk-forward Rank IC; Optuna tunes them."""

    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = 6  # XGBoost
    min_child_samples: int = 400
    subsample: float = 0.5
    #: Each tree sees 30 % of the 49 features: the models are limited by over-fitting, not by capacity — on
    #: both real data sets 0.3 ranks better than 0.5 and 0.8, and more trees or leaves rank worse
    #: (issue 16; docs/models.md: "Keeping more of the edge").
    colsample: float = 0.3
    reg_lambda: float = 5.0
    max_bin: int = 63
    #: Train on every n-th day (counted back from the latest). A 5-day label overlaps 80 % with the next
    #: day's, so neighbouring days add little information but double the fit time (docs/models.md: quality table).
    day_stride: int = 2
    #: The 30 plus the extra features, learning the return from the next day: chosen on kospi_2020_2026's
    #: walk-forward folds, confirmed on market_2023_2025 (issue 16; docs/models.md: quality table).
    feature_set: str = "extra"  # a key of FEATURE_SETS
    objective: str = "regression"  # one of OBJECTIVES
    label: str = "tradeable"  # one of TRAIN_LABELS
    #: The score model is this many LightGBM + XGBoost pairs trained with different seeds, averaged: with 30 %
    #: of the features per tree each pair sees other feature subsets, and their mean ranks better on both
    #: real data sets than one pair (issue 16). The probability model stays one pair.
    score_seeds: int = 3

    def __post_init__(self) -> None:
        for name, value, allowed in (("feature_set", self.feature_set, tuple(FEATURE_SETS)),
                                     ("objective", self.objective, OBJECTIVES), ("label", self.label, TRAIN_LABELS)):
            if value not in allowed:
                raise ValueError(f"TreeParams.{name} must be one of {', '.join(allowed)}, not {value!r}")
        if self.score_seeds < 1:
            raise ValueError(f"TreeParams.score_seeds must be at least 1, not {self.score_seeds}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TreeParams:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def strided_days(days: np.ndarray, stride: int) -> np.ndarray:
    """Keep every ``stride``-th True day of a bool mask, counting back from the latest (always kept)."""
    if stride <= 1:
        return days
    picked = np.flatnonzero(days)[::-1][::stride]
    out = np.zeros_like(days)
    out[picked] = True
    return out


def tuned_params_path(model_dir: Path) -> Path:
    return Path(model_dir) / "tuned" / "trees.json"


def load_tuned_params(model_dir: Path) -> TreeParams | None:
    path = tuned_params_path(model_dir)
    try:
        return TreeParams.from_dict(json.loads(path.read_text())["params"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
