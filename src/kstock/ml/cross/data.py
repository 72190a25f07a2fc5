"""The cross-sectional model's numpy side: settings, and one day's stocks as a set of scaled feature rows.

No torch here, so the kinds table and the tests import it without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kstock.ml.lstm.data import CLIP_SIGMA

FORMAT_VERSION = 1
LABELS = ("close", "tradeable")


@dataclass
class CrossParams:
    """Chosen on the kospi folds so one fit stays within the weekly retrain's budget on 2 CPU cores."""

    d_model: int = 32
    heads: int = 4
    layers: int = 2
    dropout: float = 0.1
    #: the daily rank it learns: of the return from the next day (what a follower captures) or close-to-close
    label: str = "tradeable"
    days_per_batch: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 12
    patience: int = 3  # epochs without a better validation Rank IC before it stops
    val_fraction: float = 0.15  # the last share of the training days, after an embargo
    embargo: int = 5
    time_budget_s: float | None = 200.0  # no new epoch after this (the best epoch is kept)
    n_threads: int = 2
    min_names: int = 20  # a day with fewer labelled names is not trained or validated on

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"CrossParams.label must be one of {', '.join(LABELS)}, not {self.label!r}")
        if self.d_model % self.heads:
            raise ValueError("CrossParams.d_model must be a multiple of heads")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CrossParams:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def day_rows(values: np.ndarray, names: np.ndarray, day: int, mean: np.ndarray,
             std: np.ndarray) -> np.ndarray:
    """The day's feature rows of ``names`` scaled by the training scaler: z clipped to ±5σ, NaN → 0 (the mean),
    plus one channel with the share of the row's features that were missing. (len(names), F + 1) float32."""
    x = np.asarray(values[names, day], dtype=np.float32)
    missing = np.isnan(x)
    z = np.clip((x - mean) / std, -CLIP_SIGMA, CLIP_SIGMA)
    z[missing] = 0.0
    return np.concatenate([z, missing.mean(axis=1, keepdims=True, dtype=np.float32)], axis=1)


def sector_tokens(sector_ids: np.ndarray, n_codes: int, n_sectors: int | None = None) -> np.ndarray:
    """Each ticker's sector as an embedding index: 0 = unknown (no id, or one the model never saw), else id + 1."""
    ids = np.asarray(sector_ids, dtype=np.int64)
    if len(ids) != n_codes:
        ids = np.full(n_codes, -1, dtype=np.int64)
    tokens = np.where(ids >= 0, ids + 1, 0)
    if n_sectors is not None:
        tokens = np.where(tokens < n_sectors, tokens, 0)
    return tokens
