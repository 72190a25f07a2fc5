"""The seed sketch's array API, kept by name: ``train_lstm``, ``predict_lstm``, ``save_lstm_model``,
``load_lstm_model``, ``ensemble_3model_predict`` and ``get_lstm_enhanced_prediction``.

They work on plain arrays and files for callers outside the registry; the product itself uses
:class:`kstock.ml.lstm.predictor.LSTMPredictor`. All stay importable from :mod:`kstock.ml.lstm_predictor`
(the seed's module name). This module builds on the predictor, never the other way round.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.base import TORCH_MISSING, MemberOutput, PredictionResult, score_to_label, torch_available
from kstock.ml.ensemble import combine
from kstock.ml.lstm.data import (
    LSTMParams,
    LSTMTrainingError,
    LSTMTrainResult,
    ProgressCallback,
    fit_scaler,
    split_days,
)
from kstock.ml.lstm.predictor import LSTMPredictor, predict_window

logger = logging.getLogger(__name__)


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
    from kstock.ml.lstm import net as lstm_net

    source = lstm_net.ArraySource(x, up, rank, day, mean, std, p.missing_indicator)
    model, result, _ = lstm_net.fit_network(source, train_idx, val_idx, p, seed=seed, device=device,
                                            progress=progress, progress_bar=progress_bar)
    result.scaler_mean, result.scaler_std = mean, std
    return model, result


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
    from kstock.ml.lstm import net as lstm_net

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
    from kstock.ml.lstm import net as lstm_net

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
    weights: Mapping[str, float] | None = None,
) -> float | None:
    """The ensemble's probability for one (ticker, day) from the seed's three numbers, by the product's rule.

    LightGBM and XGBoost are the two halves of the ``trees`` member (which averages them); ``trees`` and
    ``lstm`` are then combined by :func:`kstock.ml.ensemble.combine` with ``weights`` (per member, as
    chosen on validation folds and stored in the registry; default: the ensemble's defaults). ``None`` or
    NaN is a missing model and its weight goes to the others; 0.5 is a prediction. ``None`` when no
    member answered.
    """
    boosters = [p for p in (lgb_prob, xgb_prob) if p is not None and p == p]
    members = {"trees": float(np.mean(boosters)) if boosters else None,
               "lstm": lstm_prob if lstm_prob is not None and lstm_prob == lstm_prob else None}
    outputs = {name: MemberOutput(np.array([[p]], dtype=float), np.array([[p]], dtype=float)) if p is not None
               else None for name, p in members.items()}
    try:
        probability = combine(outputs, weights).probability[0, 0]
    except ValueError:  # no member answered
        return None
    return float(probability) if np.isfinite(probability) else None


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

    ``features_dict`` is day t's features by name (for the trees, ``ml_model``: a TreePredictor; the 30,
    and the extra ones its default feature set reads — any not given count as missing);
    ``recent_sequence`` the raw features of days t-19 … t (for ``lstm_model``; when None the model is
    loaded from :func:`default_model_path`). A member that cannot answer is ``None`` with a reason in
    ``unavailable``; with no member at all, probability and score are ``None`` and the label HOLD.
    """
    from kstock.ml.models import default_weights

    members: dict[str, dict[str, float] | None] = {"trees": None, "lstm": None}
    unavailable: dict[str, str] = {}
    cuts: tuple[float, float] | None = None
    if ml_model is not None and features_dict is not None:
        # the model's own feature list (the 30, or with the extra ones); a name not given is missing (NaN)
        names = getattr(ml_model, "feature_names", FEATURE_NAMES)
        row = np.array([[features_dict.get(f, np.nan) for f in names]], dtype=np.float32)
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
    w = dict(weights or default_weights())
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
