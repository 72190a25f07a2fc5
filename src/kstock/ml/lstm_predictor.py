"""Attention LSTM: the last 20 days of the 30 daily features → the trees' two outputs (DESIGN §3).

Two heads on one network: ``probability`` = P(5-day return > +3 %) (a logit, trained with
``BCEWithLogits``) and ``score`` = the expected daily cross-sectional rank of the 5-day forward
return (trained with a variance-normalised MSE). Attention over the 20 days is returned with every
prediction, so ``/analyze`` can say which days mattered.

The public names of the seed sketch (``StockLSTM``, ``build_sequences``, ``train_lstm``,
``predict_lstm``, ``save_lstm_model``, ``load_lstm_model``, ``ensemble_3model_predict``,
``get_lstm_enhanced_prediction``, ``LSTMTrainResult``) are kept; its defects are not:

- logits + ``BCEWithLogitsLoss`` instead of ``Sigmoid`` + ``BCELoss`` (numerically stable);
- early stopping restores a *deep copy* of the best epoch's weights (``state_dict().copy()`` is a
  shallow dict of the live tensors, so the seed "restored" the last epoch);
- validation is split by **date** across the whole universe (the last ~15 % of the training days),
  with an embargo of at least the label horizon between the last training label and the first
  validation day — never "the last 20 % of rows";
- the scaler is fitted on training samples only and saved with the model;
- a missing model is ``None``, never a fake 0.5, and the ensemble never reconstructs the LightGBM
  and XGBoost probabilities from the combined one.

Sequence alignment: the sample of day ``t`` sees the features of days ``t-19 … t`` (inclusive) and
is labelled with the return from close ``t`` to close ``t+5``. Day ``t``'s features use prices up to
the close of ``t`` only, so this is exactly what is known when the signal is computed. (The seed
paired ``X[i-20:i]`` with ``targets[i]``: honest but one day stale — it threw away the latest day.)

Missing values: features are NaN on days a ticker did not trade and before enough history exists.
After scaling (per-feature mean/std from training samples, inputs clipped to ±5σ) NaN becomes 0, the
training mean; with ``missing_indicator`` (default) one extra input channel carries the share of that
day's features that were missing (1.0 for a halted day or a day before the data starts), so the
network can tell "an average day" from "no data". Days with no features at all are also masked out
of the attention, so attention weights never point at a day that had no data.

torch is imported lazily: ``import kstock.ml.lstm_predictor`` works without it (the model kind then
reports itself unavailable); the torch code lives in :mod:`kstock.ml.lstm_net`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.models import TORCH_MISSING, register_kind, torch_available
from kstock.ml.predictor import MemberOutput, PredictionResult, score_to_label

logger = logging.getLogger(__name__)

# OpenMP threads that spin while waiting make torch (and LightGBM) 5-10x slower whenever another process
# shares the cores; passive waiting costs next to nothing on an idle machine. It only takes effect if set
# before the OpenMP runtime loads (first torch/lightgbm import), so kstock sets it as early as it can.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# ``StockLSTM`` is served by the module ``__getattr__`` (it needs torch), so it is not in ``__all__``
__all__ = [
    "SEQUENCE_LENGTH", "LSTMParams", "LSTMPredictor", "LSTMTrainResult", "LSTMTrainingError",
    "build_sequences", "ensemble_3model_predict", "fit_scaler", "gather_windows", "get_lstm_enhanced_prediction",
    "load_lstm_model", "predict_lstm", "save_lstm_model", "scale_windows", "train_lstm",
]

SEQUENCE_LENGTH = 20  # 최근 20일 시퀀스
CLIP_SIGMA = 5.0  # scaled inputs are clipped to ±5σ
MODEL_FILE = "lstm.pt"
META_FILE = "lstm.json"
FORMAT_VERSION = 1


class LSTMTrainingError(KstockError):
    """Training could not produce a usable model (too few samples, a non-finite loss from the start)."""


def __getattr__(name: str) -> Any:
    """``StockLSTM`` is an ``nn.Module`` subclass, so it is built from :mod:`kstock.ml.lstm_net` on first use."""
    if name == "StockLSTM":
        if not torch_available():
            raise ImportError(f"StockLSTM needs torch: {TORCH_MISSING}")
        from kstock.ml.lstm_net import StockLSTM

        return StockLSTM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


# -- the seed's array API ------------------------------------------------------------------------
def train_lstm(
    X: np.ndarray,
    y: np.ndarray,
    epochs: int = 50,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    patience: int = 10,
    val_ratio: float = 0.15,
    *,
    days: np.ndarray | None = None,
    rank: np.ndarray | None = None,
    embargo: int = 5,
    seed: int = 0,
    params: LSTMParams | None = None,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    progress_bar: bool | None = False,
) -> tuple[Any, LSTMTrainResult]:
    """Train on materialised raw windows X (n, L, F) with binary targets y (n,); returns (model, result).

    ``days`` (n,) is each sample's day index (its window's last day). Validation is the last
    ``val_ratio`` of the distinct days, all tickers together, after an ``embargo``-day gap; without
    ``days`` the rows are taken to be consecutive days of one ticker. ``rank`` (n,) trains the score
    head (cross-sectional rank in [0, 1]); without it only the probability head learns. The scaler is
    fitted on the training windows and returned in ``result.scaler_mean`` / ``scaler_std``. Without
    torch: ``(None, result)`` with ``stopped_reason`` saying why.
    """
    p = params or LSTMParams()
    p = LSTMParams.from_dict({**asdict(p), "max_epochs": epochs, "batch_size": batch_size,
                              "learning_rate": learning_rate, "patience": patience, "val_fraction": val_ratio,
                              "embargo": embargo, "seq_len": X.shape[1]})
    if not torch_available():
        nan = float("nan")
        return None, LSTMTrainResult(nan, nan, nan, nan, 0, 0, False, stopped_reason=TORCH_MISSING)
    x = np.asarray(X, dtype=np.float32)
    up = np.asarray(y, dtype=np.float32)
    day = np.arange(len(x)) if days is None else np.asarray(days)
    keep = np.isfinite(up) & (np.isfinite(rank) if rank is not None else True)
    all_days = np.unique(day[keep])
    fit_day_set, val_day_set = split_days(all_days, val_ratio, embargo)
    train_idx = np.flatnonzero(keep & np.isin(day, fit_day_set))
    val_idx = np.flatnonzero(keep & np.isin(day, val_day_set))
    if len(train_idx) < p.min_train_samples or len(val_idx) == 0:
        raise LSTMTrainingError(f"too few samples to train the LSTM ({len(train_idx)} train, {len(val_idx)} "
                                "validation); import more history")
    mean, std = fit_scaler(x[train_idx].reshape(-1, x.shape[2]), seed=seed)
    from kstock.ml import lstm_net

    source = lstm_net.ArraySource(x, up, rank, day, mean, std, p.missing_indicator)
    model, result, _ = lstm_net.fit_network(source, train_idx, val_idx, p, seed=seed, device=device,
                                            progress=progress, progress_bar=progress_bar)
    result.scaler_mean, result.scaler_std = mean, std
    return model, result


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


def _model_input_size(model: Any) -> int:
    return int(model.lstm.input_size)


def predict_lstm(
    model: Any,
    recent_features: np.ndarray,
    scaler_mean: np.ndarray | None = None,
    scaler_std: np.ndarray | None = None,
) -> float | None:
    """P(up) for one ticker from its last ``SEQUENCE_LENGTH`` days of raw features (L, F).

    ``None`` when torch or the model is missing, or the last day (the day predicted from) has fewer than
    half of its features — never a fake 0.5. A window shorter than the model expects (a new listing) is
    padded in front with missing days.
    """
    out = predict_window(model, recent_features, scaler_mean, scaler_std)
    return None if out is None else out[0]


def predict_window(
    model: Any, recent_features: np.ndarray, scaler_mean: np.ndarray | None, scaler_std: np.ndarray | None,
    seq_len: int = SEQUENCE_LENGTH,
) -> tuple[float, float, np.ndarray] | None:
    """(probability, score, attention (seq_len,)) for one window, or None (see :func:`predict_lstm`)."""
    if model is None or not torch_available():
        return None
    x = np.asarray(recent_features, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0 or not np.isfinite(x).any():
        return None
    if np.isfinite(x[-1]).sum() < x.shape[1] // 2:  # the day predicted from must have data (as sample_mask)
        return None
    x = x[-seq_len:]
    if len(x) < seq_len:
        x = np.concatenate([np.full((seq_len - len(x), x.shape[1]), np.nan, np.float32), x])
    indicator = _model_input_size(model) == x.shape[1] + 1
    z, present = scale_windows(x[None], scaler_mean, scaler_std, indicator)
    from kstock.ml import lstm_net

    prob, score, attn = lstm_net.forward_numpy(model, z, present)
    return float(prob[0]), float(score[0]), attn[0]


def default_model_path() -> Path:
    return Path(os.environ.get("KSTOCK_MODEL_DIR", "models")) / "lstm_stock.pt"


def save_lstm_model(
    model: Any, scaler_mean: np.ndarray | None, scaler_std: np.ndarray | None, path: str | Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model as a torch state_dict plus plain tensors/config (loadable with weights_only=True).

    The file is written under a temporary name and renamed into place. ``extra`` must hold plain
    values (numbers, strings, lists, dicts).
    """
    if not torch_available():
        raise KstockError(f"cannot save the LSTM: {TORCH_MISSING}")
    from kstock.ml import lstm_net

    target = Path(path) if path is not None else default_model_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    lstm_net.save_checkpoint(model, scaler_mean, scaler_std, target, dict(extra or {}))
    return target


def load_lstm_model(path: str | Path | None = None) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """(model, scaler_mean, scaler_std), or (None, None, None) without torch or a readable file."""
    if not torch_available():
        return None, None, None
    target = Path(path) if path is not None else default_model_path()
    if not target.exists():
        return None, None, None
    from kstock.ml import lstm_net

    try:
        model, mean, std, _ = lstm_net.load_checkpoint(target)
    except Exception as exc:  # a corrupt file means "no model", never a crash
        logger.warning("LSTM model %s is unreadable (%s); treating it as missing", target, exc)
        return None, None, None
    return model, mean, std


# -- ensemble helpers of the seed ------------------------------------------------------------
def ensemble_3model_predict(
    lgb_prob: float | None,
    xgb_prob: float | None,
    lstm_prob: float | None,
    weights: tuple[float, float, float] = (0.35, 0.30, 0.35),
) -> float | None:
    """Weighted average of the members that answered; ``None`` is a missing member, 0.5 is a prediction.

    The weights of the present members are renormalised; ``None`` when no member answered. Weights
    chosen on validation folds (:func:`kstock.ml.ensemble.choose_weights`) should be passed in.
    """
    parts = [(p, w) for p, w in zip((lgb_prob, xgb_prob, lstm_prob), weights, strict=True)
             if p is not None and p == p and w > 0]
    total = sum(w for _, w in parts)
    if not parts or total <= 0:
        return None
    return float(sum(p * w for p, w in parts) / total)


def get_lstm_enhanced_prediction(
    features_dict: Mapping[str, float] | None,
    ml_model: Any = None,
    recent_sequence: np.ndarray | None = None,
    *,
    lstm_model: LSTMPredictor | None = None,
    weights: Mapping[str, float] | None = None,
    code: str = "",
    name: str = "",
    date: str = "",
    window_dates: list[str] | None = None,
) -> PredictionResult:
    """Trees + LSTM for one (ticker, day), each from its *own* outputs, combined with ``weights``.

    ``features_dict`` is day t's 30 features by name (for the trees, ``ml_model``: a TreePredictor);
    ``recent_sequence`` the raw features of days t-19 … t (for ``lstm_model``; when None the model is
    loaded from :func:`default_model_path`). A member that cannot answer is ``None`` with a reason in
    ``unavailable``; with no member at all, probability and score are ``None`` and the label HOLD.
    """
    from kstock.ml.ensemble import DEFAULT_WEIGHTS

    members: dict[str, dict[str, float] | None] = {"trees": None, "lstm": None}
    unavailable: dict[str, str] = {}
    cuts: tuple[float, float] | None = None
    if ml_model is not None and features_dict is not None:
        row = np.array([[features_dict.get(f, np.nan) for f in FEATURE_NAMES]], dtype=np.float32)
        prob, score = ml_model.predict_matrix(row)
        members["trees"] = {"probability": float(prob[0]), "score": float(score[0])}
        cuts = tuple(ml_model.label_cuts)
    else:
        unavailable["trees"] = "no tree model"
    attention: np.ndarray | None = None
    if not torch_available():
        unavailable["lstm"] = TORCH_MISSING
    elif recent_sequence is None:
        unavailable["lstm"] = "no 20-day feature window"
    else:
        lstm = lstm_model
        if lstm is None:
            net, mean, std = load_lstm_model()
            lstm = LSTMPredictor.from_network(net, mean, std) if net is not None else None
        out = lstm.predict_one(recent_sequence) if lstm is not None else None
        if lstm is None:
            unavailable["lstm"] = "no trained LSTM model"
        elif out is None:
            unavailable["lstm"] = "no data in the 20-day window"
        else:
            members["lstm"] = {"probability": out[0], "score": out[1]}
            attention = out[2]
            cuts = cuts or tuple(lstm.label_cuts)
    w = dict(weights or DEFAULT_WEIGHTS)
    answered = {k: v for k, v in members.items() if v is not None and w.get(k, 0) > 0}
    total = sum(w[k] for k in answered)
    probability = score = None
    if answered and total > 0:
        probability = sum(w[k] * v["probability"] for k, v in answered.items()) / total
        score = sum(w[k] * v["score"] for k, v in answered.items()) / total
    key_days: list[tuple[str, float]] = []
    if attention is not None:
        labels = window_dates or [f"t-{len(attention) - 1 - i}" if i < len(attention) - 1 else "t"
                                  for i in range(len(attention))]
        labels = labels[-len(attention):]
        key_days = [(labels[i], float(attention[i])) for i in np.argsort(-attention)[:3]]
    return PredictionResult(
        code=code, name=name, date=date,
        probability=None if probability is None else round(float(probability), 4),
        score=None if score is None else round(float(score), 4),
        label=score_to_label(score, cuts or (0.4, 0.6)),
        members=members, unavailable=unavailable, lstm_key_days=key_days,
    )


# -- the model interface -------------------------------------------------------------------
class LSTMPredictor:
    """The attention LSTM behind the common model interface (fit / predict_days / save / load)."""

    name = "lstm"

    def __init__(
        self,
        params: LSTMParams | None = None,
        seed: int = 0,
        device: str | None = None,
        progress_bar: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.params = params or LSTMParams()
        self.seed = seed
        self.device = device or "cpu"
        self.progress_bar = progress_bar
        self.progress = progress
        self.network: Any = None
        self.scaler_mean: np.ndarray | None = None
        self.scaler_std: np.ndarray | None = None
        self.label_cuts: tuple[float, float] = (0.4, 0.6)
        self.train_result: LSTMTrainResult | None = None
        self.split: dict[str, str] = {}

    def set_progress(self, say: Callable[[str], None]) -> None:
        """Report each epoch as one line of text (the retrain service and the bot's /retrain show it)."""

        def report(epoch: int, total: int, m: dict[str, float]) -> None:
            say(f"lstm: epoch {epoch}/{total} — train loss {m['train_loss']:.4f}, val loss {m['val_loss']:.4f}, "
                f"val AUC {m['val_auc']:.3f}, val Rank IC {m['val_rank_ic']:.4f}")

        self.progress = report

    # -- training ----------------------------------------------------------------------------
    def training_samples(self, data: Any, train_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fit, validation) sample masks (N, T): one date split for every ticker, with the embargo.

        Validation = all samples on the last ``val_fraction`` of the training days; fit = samples on
        days at least ``max(embargo, label horizon)`` + 1 days before the first validation day.
        """
        embargo = max(self.params.embargo, int(data.labels.horizon))
        fit_days, val_days = split_days(np.flatnonzero(train_days), self.params.val_fraction, embargo)
        n = len(data.dates)
        fit_mask, val_mask = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        fit_mask[fit_days], val_mask[val_days] = True, True
        return data.sample_mask(fit_mask), data.sample_mask(val_mask)

    def fit(self, data: Any, train_days: np.ndarray) -> dict[str, float]:
        """Train on the samples of ``train_days`` (bool over data.dates); returns validation metrics."""
        if not torch_available():
            raise KstockError(f"lstm: {TORCH_MISSING}")
        from kstock.ml import lstm_net

        p = self.params
        fit_mask, val_mask = self.training_samples(data, train_days)
        if fit_mask.sum() < p.min_train_samples or not val_mask.any():
            raise LSTMTrainingError(f"too few samples to train the LSTM ({int(fit_mask.sum())} train, "
                                    f"{int(val_mask.sum())} validation); import more history")
        values = data.features.values
        self.scaler_mean, self.scaler_std = fit_scaler(values[fit_mask], seed=self.seed)
        fit_t, fit_d = np.nonzero(fit_mask)
        val_t, val_d = _thin_validation(val_mask, p.max_val_samples)
        tickers = np.concatenate([fit_t, val_t])
        days = np.concatenate([fit_d, val_d])
        source = lstm_net.PanelSource(values, tickers, days, data.labels.up[tickers, days],
                                      data.labels.rank[tickers, days], self.scaler_mean, self.scaler_std,
                                      p.missing_indicator, p.seq_len)
        train_idx = np.arange(len(fit_t))
        val_idx = np.arange(len(fit_t), len(tickers))
        self.network, result, (_, val_score) = lstm_net.fit_network(
            source, train_idx, val_idx, p, seed=self.seed, device=self.device, progress=self.progress,
            progress_bar=self.progress_bar)
        result.scaler_mean, result.scaler_std = self.scaler_mean, self.scaler_std
        self.train_result = result
        finite = val_score[np.isfinite(val_score)]
        if finite.size:
            self.label_cuts = (float(np.quantile(finite, 0.1)), float(np.quantile(finite, 0.9)))
        fit_days, val_days = np.flatnonzero(fit_mask.any(0)), np.flatnonzero(val_mask.any(0))
        self.split = {"fit_start": str(data.dates[fit_days[0]]), "fit_end": str(data.dates[fit_days[-1]]),
                      "val_start": str(data.dates[val_days[0]]), "val_end": str(data.dates[val_days[-1]])}
        return result.metrics()

    # -- inference ---------------------------------------------------------------------------
    def _require(self) -> None:
        if self.network is None:
            raise RuntimeError("LSTMPredictor is not fitted")

    def predict_days(self, data: Any, days: np.ndarray) -> MemberOutput:
        """Outputs for every ticker on the given day indices; NaN where a ticker cannot be scored.

        ``extras["attention"]`` is (N, len(days), seq_len): weight of days t-19 … t (last = day t).
        """
        self._require()
        from kstock.ml import lstm_net

        days = np.asarray(days)
        day_mask = np.zeros(len(data.dates), dtype=bool)
        day_mask[days] = True
        ok = data.sample_mask(day_mask, need_label=False)[:, days]
        shape = ok.shape
        prob, score = np.full(shape, np.nan), np.full(shape, np.nan)
        attention = np.full((*shape, self.params.seq_len), np.nan, dtype=np.float32)
        rows, cols = np.nonzero(ok)
        if len(rows):
            source = lstm_net.PanelSource(data.features.values, rows, days[cols], None, None, self.scaler_mean,
                                          self.scaler_std, self.params.missing_indicator, self.params.seq_len)
            p, s, a = lstm_net.predict_source(self.network, source, np.arange(len(rows)), self.device,
                                              self.params.eval_batch_size, self.params.n_threads)
            prob[rows, cols], score[rows, cols], attention[rows, cols] = p, s, a
        return MemberOutput(probability=prob, score=score, extras={"attention": attention})

    def predict_one(self, recent_features: np.ndarray) -> tuple[float, float, np.ndarray] | None:
        """(probability, score, attention) for one ticker's raw window (≤ seq_len, F), or None."""
        self._require()
        return predict_window(self.network, recent_features, self.scaler_mean, self.scaler_std, self.params.seq_len)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "params": asdict(self.params), "seed": self.seed,
                               "label_cuts": list(self.label_cuts), "split": self.split}
        if self.train_result is not None:
            out["train"] = self.train_result.metrics()
        return out

    @classmethod
    def from_network(cls, network: Any, mean: np.ndarray | None, std: np.ndarray | None) -> LSTMPredictor:
        """Wrap a bare :class:`StockLSTM` (e.g. from :func:`load_lstm_model`)."""
        model = cls(LSTMParams(hidden_size=network.lstm.hidden_size, num_layers=network.lstm.num_layers,
                               missing_indicator=mean is not None and network.lstm.input_size == len(mean) + 1))
        model.network, model.scaler_mean, model.scaler_std = network, mean, std
        return model

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        self._require()
        folder = Path(folder)
        save_lstm_model(self.network, self.scaler_mean, self.scaler_std, folder / MODEL_FILE)
        (folder / META_FILE).write_text(json.dumps(
            {"format": FORMAT_VERSION, "params": asdict(self.params), "seed": self.seed,
             "label_cuts": list(self.label_cuts), "features": list(FEATURE_NAMES), "split": self.split,
             "train": self.train_result.metrics() if self.train_result else None}, indent=2))

    @classmethod
    def load(cls, folder: Path, device: str | None = None) -> LSTMPredictor:
        """Load from a registry folder; raises on a missing/corrupt file (the caller marks it unavailable)."""
        if not torch_available():
            raise KstockError(f"lstm: {TORCH_MISSING}")
        from kstock.ml import lstm_net

        folder = Path(folder)
        info = json.loads((folder / META_FILE).read_text())
        if list(info["features"]) != list(FEATURE_NAMES):
            raise ValueError("model was trained on a different feature list; retrain it")
        model = cls(LSTMParams.from_dict(info["params"]), seed=info["seed"], device=device)
        model.network, model.scaler_mean, model.scaler_std, _ = lstm_net.load_checkpoint(folder / MODEL_FILE,
                                                                                         model.device)
        model.label_cuts = tuple(info["label_cuts"])
        model.split = dict(info.get("split") or {})
        return model


def _thin_validation(val_mask: np.ndarray, max_samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validation samples: whole days (so the daily Rank IC is measurable), every k-th day if too many."""
    days = np.flatnonzero(val_mask.any(axis=0))
    total = int(val_mask.sum())
    if max_samples and total > max_samples:
        step = int(np.ceil(total / max_samples))
        keep = np.zeros(val_mask.shape[1], dtype=bool)
        keep[days[::-1][::step]] = True  # always keep the most recent day
        val_mask = val_mask & keep[None, :]
    return np.nonzero(val_mask)


# -- registration ----------------------------------------------------------------------------
def _factory(settings: Any, **kwargs: Any) -> LSTMPredictor:
    """``create_model("lstm", settings, **kw)``: kw may hold ``params`` (LSTMParams or a dict), any
    LSTMParams field by name (``max_epochs=3``; ``epochs`` is the CLI's alias), ``seed``, ``device``,
    ``progress_bar``, ``progress``. The device is CUDA when ``settings.use_gpu`` and one is present."""
    for option in ("phase", "resume"):  # the CLI's options for the sector model; the LSTM has no phases
        if kwargs.pop(option, None) is not None:
            logger.info("lstm: option %r applies to the sector model only; ignored", option)
    if "epochs" in kwargs:
        kwargs["max_epochs"] = kwargs.pop("epochs")
    if "device" not in kwargs:
        kwargs["device"] = _pick_device(bool(getattr(settings, "use_gpu", False)))
    params = kwargs.pop("params", None)
    params = LSTMParams.from_dict(params) if isinstance(params, Mapping) else (params or LSTMParams())
    overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in LSTMParams.__dataclass_fields__}
    params = LSTMParams.from_dict({**asdict(params), **overrides})
    params.embargo = max(params.embargo, int(getattr(settings, "label_horizon", 5)))
    return LSTMPredictor(params=params, **kwargs)


def _pick_device(use_gpu: bool) -> str:
    if not use_gpu:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _loader() -> Callable[..., LSTMPredictor]:
    return LSTMPredictor.load


register_kind("lstm", _factory, _loader, needs_torch=True)
