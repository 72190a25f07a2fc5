"""The LSTM's numpy side: settings, training results, 20-day windows, scaling and the date split.

No torch here, so everything the data pipeline and the tests need imports without it; the network
lives in :mod:`kstock.ml.lstm.net`, the model interface in :mod:`kstock.ml.lstm.predictor`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kstock.errors import KstockError

SEQUENCE_LENGTH = 20  # 최근 20일 시퀀스
CLIP_SIGMA = 5.0  # scaled inputs are clipped to ±5σ
FORMAT_VERSION = 1
LSTM_LABELS = ("close", "tradeable")


class LSTMTrainingError(KstockError):
    """Training could not produce a usable model (too few samples, a non-finite loss from the start)."""


# -- settings and results ----------------------------------------------------------------------
@dataclass
class LSTMParams:
    """Defaults chosen so the weekly retrain on kospi_2020_2026 fits in < 10 min on 2 CPU cores.

    Each epoch trains on a fresh seeded random draw of ``samples_per_epoch`` training samples (the full
    panel has ~1M; one pass over it is ~2 min on 2 cores), so "epoch" here means "a budgeted pass".
    """

    seq_len: int = SEQUENCE_LENGTH
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.2
    missing_indicator: bool = True
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    rank_weight: float = 1.0  # weight of the (variance-normalised) rank MSE beside the BCE
    #: Which daily rank the score head learns: of the close-to-close return, or of the return from the next
    #: day (``tradeable``, what a follower captures; :func:`kstock.features.labels.rank_target`).
    label: str = "close"
    #: Weight of the per-day correlation loss (:mod:`kstock.ml.lstm.ranking`); above 0 the batches are whole
    #: day groups of ``names_per_day`` names and the best epoch is the one with the best validation Rank IC.
    corr_weight: float = 0.0
    names_per_day: int = 32
    max_epochs: int = 10  # on kospi_2020_2026 validation loss bottoms out after 2-4 epochs of 200k samples
    patience: int = 2
    samples_per_epoch: int | None = 200_000  # None = every training sample each epoch
    val_fraction: float = 0.15  # the last share of the training *days* (all tickers) used for validation
    max_val_samples: int | None = 60_000  # validation uses whole days, every k-th, up to about this many
    embargo: int = 5  # days between the last training day and the first validation day (≥ label horizon)
    time_budget_s: float | None = 480.0  # stop starting new epochs after this (the best epoch is kept)
    n_threads: int = 2
    eval_batch_size: int = 4096
    min_train_samples: int = 200

    def __post_init__(self) -> None:
        if self.label not in LSTM_LABELS:
            raise ValueError(f"LSTMParams.label must be one of {', '.join(LSTM_LABELS)}, not {self.label!r}")
        if self.corr_weight < 0 or self.names_per_day < 2:
            raise ValueError("LSTMParams.corr_weight must be ≥ 0 and names_per_day ≥ 2")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LSTMParams:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass
class LSTMTrainResult:
    """What a training run did. Losses are those of the best (restored) epoch."""

    train_loss: float
    val_loss: float
    val_auc: float
    val_rank_ic: float
    epochs_trained: int
    best_epoch: int  # 1-based; the weights returned are this epoch's
    overfitting_warning: bool  # validation loss rose while training loss kept falling
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_reason: str = ""
    scaler_mean: np.ndarray | None = None
    scaler_std: np.ndarray | None = None
    train_samples: int = 0
    val_samples: int = 0
    seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        """Flat numbers for the registry's meta.json and the retrain record."""
        return {"train_loss": self.train_loss, "val_loss": self.val_loss, "val_auc": self.val_auc,
                "val_rank_ic": self.val_rank_ic, "epochs_trained": float(self.epochs_trained),
                "best_epoch": float(self.best_epoch), "overfitting_warning": float(self.overfitting_warning),
                "train_samples": float(self.train_samples), "val_samples": float(self.val_samples),
                "train_seconds": self.seconds}


ProgressCallback = Callable[[int, int, dict[str, float]], None]


# -- sequences and scaling (numpy only) ----------------------------------------------------------
def build_sequences(
    feature_matrix: np.ndarray,
    targets: np.ndarray,
    seq_len: int = SEQUENCE_LENGTH,
) -> tuple[np.ndarray, np.ndarray]:
    """One ticker's daily features (T, F) and targets (T,) → X (n, seq_len, F), y (n,), n = T − seq_len + 1.

    Sample ``i`` holds the features of days ``i … i+seq_len-1`` and the target of its last day
    (``targets[i+seq_len-1]``): a window ends on the day whose label it predicts, because that day's
    features are known at its close. NaN targets stay NaN for the caller to drop; NaN features stay
    NaN (``scale_windows`` turns them into 0 plus the missing indicator).
    """
    x = np.asarray(feature_matrix, dtype=np.float32)
    t = np.asarray(targets, dtype=np.float32)
    if x.ndim != 2 or t.shape != (len(x),):
        raise ValueError(f"expected (T, F) features and (T,) targets, got {x.shape} and {t.shape}")
    n = len(x) - seq_len + 1
    if n <= 0:
        return np.empty((0, seq_len, x.shape[1]), dtype=np.float32), np.empty(0, dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(x, seq_len, axis=0)  # (n, F, seq_len)
    return np.ascontiguousarray(windows.transpose(0, 2, 1)), t[seq_len - 1 :].copy()


def gather_windows(
    values: np.ndarray, tickers: np.ndarray, days: np.ndarray, seq_len: int = SEQUENCE_LENGTH
) -> np.ndarray:
    """Raw windows (n, seq_len, F) for (ticker, day) samples of a (N, T, F) cube, by index — one batch at a time.

    Window ``k`` ends on ``days[k]`` (inclusive). Days before the start of the data are NaN. Callers
    gather a batch (a few thousand samples), never the whole (N, T, seq_len, F) tensor.
    """
    offsets = np.arange(-seq_len + 1, 1)
    day_idx = np.asarray(days)[:, None] + offsets[None, :]
    before = day_idx < 0
    out = values[np.asarray(tickers)[:, None], np.maximum(day_idx, 0)]
    if before.any():
        out[before] = np.nan
    return out


def fit_scaler(rows: np.ndarray, max_rows: int = 500_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of training rows (n, F), robust to outliers and NaN.

    Each feature is winsorised at its 0.5 % / 99.5 % quantiles before the mean and std are taken, so a
    few extreme days (price-limit moves, data faults) do not inflate the scale; a constant or empty
    feature gets std 1.
    """
    x = np.asarray(rows)
    if len(x) > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
    x = x.astype(np.float64)
    lo, hi = np.nanquantile(x, 0.005, axis=0), np.nanquantile(x, 0.995, axis=0)
    clipped = np.clip(x, lo, hi)
    mean = np.nan_to_num(np.nanmean(clipped, axis=0))
    std = np.nan_to_num(np.nanstd(clipped, axis=0))
    std[~(std > 1e-8)] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def scale_windows(
    windows: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None, missing_indicator: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Raw windows (n, L, F) → network input (n, L, F[+1]) float32 and the present-day mask (n, L).

    z = (x − mean) / std clipped to ±5σ; NaN → 0 (the training mean). The optional extra channel is the
    share of the day's features that were missing. A day is "present" when any feature is finite.
    """
    x = np.asarray(windows, dtype=np.float32)
    missing = np.isnan(x)
    z = x if mean is None or std is None else (x - mean) / std
    z = np.clip(z, -CLIP_SIGMA, CLIP_SIGMA)
    z[missing] = 0.0
    present = ~missing.all(axis=-1)
    if missing_indicator:
        z = np.concatenate([z, missing.mean(axis=-1, dtype=np.float32)[..., None]], axis=-1)
    return np.ascontiguousarray(z, dtype=np.float32), present


def split_days(day_indices: np.ndarray, val_fraction: float, embargo: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted day indices → (fit days, validation days): validation = the last ``val_fraction`` of them.

    Fit days are those at least ``embargo`` + 1 days before the first validation day, so with
    ``embargo`` ≥ the label horizon no training label window reaches into validation.
    """
    d = np.unique(np.asarray(day_indices))
    if len(d) < 2:
        return d, d[:0]
    n_val = min(len(d) - 1, max(1, round(len(d) * val_fraction)))
    val = d[-n_val:]
    fit = d[d + embargo < val[0]]
    return fit, val
