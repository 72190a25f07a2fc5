"""Attention LSTM: the last 20 days of the 30 daily features → the trees' two outputs (DESIGN §3).

Two heads on one network: ``probability`` = P(5-day return > +3 %) (a logit, trained with
``BCEWithLogits``) and ``score`` = the expected daily cross-sectional rank of the 5-day forward
return (trained with a variance-normalised MSE). Attention over the 20 days is returned with every
prediction, so ``/analyze`` can say which days mattered.

Compared with the seed sketch (its array API lives on in :mod:`kstock.ml.lstm.seed`), its defects are gone:

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

torch is imported lazily: ``import kstock.ml.lstm.predictor`` works without it (the model kind then
reports itself unavailable). Layout: settings, windows and scaling in :mod:`kstock.ml.lstm.data`, the
torch code in :mod:`kstock.ml.lstm.net`, :class:`LSTMPredictor` — the model the registry serves — and
one window's inference (:func:`predict_window`) here; the seed's array API in :mod:`kstock.ml.lstm.seed`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.features.labels import rank_target
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.base import ATTENTION, TORCH_MISSING, MemberOutput, params_from_options, torch_available
from kstock.ml.lstm.data import (
    FORMAT_VERSION,
    SEQUENCE_LENGTH,
    LSTMParams,
    LSTMTrainingError,
    LSTMTrainResult,
    ProgressCallback,
    fit_scaler,
    scale_windows,
    split_days,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "lstm.pt"
META_FILE = "lstm.json"


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
        self._say_stop: Callable[[str], None] | None = None  # set_progress: one line saying why training stopped
        self.network: Any = None
        self.scaler_mean: np.ndarray | None = None
        self.scaler_std: np.ndarray | None = None
        self.label_cuts: tuple[float, float] = (0.4, 0.6)
        self.train_result: LSTMTrainResult | None = None
        self.split: dict[str, str] = {}

    def set_progress(self, say: Callable[[str], None]) -> None:
        """Report each epoch as one line of text (the retrain service and the bot's /retrain show it)."""

        def report(epoch: int, total: int, m: dict[str, float]) -> None:
            say(f"lstm: 학습 반복(epoch) {epoch}/{total} — 학습 손실 {m['train_loss']:.4f}, 검증 손실 "
                f"{m['val_loss']:.4f}, 검증 AUC {m['val_auc']:.3f}, 검증 순위 IC {m['val_rank_ic']:.4f}")

        self.progress = report
        self._say_stop = say

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
        # a sample needs the target of the label it learns: the next-day return is missing more often (a halt
        # on t+1, the last day) than the close-to-close one the sample mask asks for
        labelled = np.isfinite(rank_target(data.labels, self.params.label))
        return data.sample_mask(fit_mask) & labelled, data.sample_mask(val_mask) & labelled

    def fit(self, data: Any, train_days: np.ndarray) -> dict[str, float]:
        """Train on the samples of ``train_days`` (bool over data.dates); returns validation metrics."""
        if not torch_available():
            raise KstockError(f"lstm: {TORCH_MISSING}")
        from kstock.ml.lstm import net as lstm_net

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
        rank = rank_target(data.labels, p.label)
        source = lstm_net.PanelSource(values, tickers, days, data.labels.up[tickers, days],
                                      rank[tickers, days], self.scaler_mean, self.scaler_std,
                                      p.missing_indicator, p.seq_len)
        train_idx = np.arange(len(fit_t))
        val_idx = np.arange(len(fit_t), len(tickers))
        self.network, result, (_, val_score) = lstm_net.fit_network(
            source, train_idx, val_idx, p, seed=self.seed, device=self.device, progress=self.progress,
            progress_bar=self.progress_bar)
        result.scaler_mean, result.scaler_std = self.scaler_mean, self.scaler_std
        self.train_result = result
        say_stop = self._say_stop
        if say_stop is not None and result.stopped_reason:  # why it stopped where it did (e.g. 조기 종료 at 3/10)
            say_stop(f"lstm: {result.stopped_reason} — 가장 좋았던 {result.best_epoch}번째 반복의 모델을 씁니다")
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

    @property
    def history_days(self) -> int:
        """Days of features one prediction reads (the serving window is sized from it): its sequence."""
        return int(self.params.seq_len)

    def predict_days(self, data: Any, days: np.ndarray) -> MemberOutput:
        """Outputs for every ticker on the given day indices; NaN where a ticker cannot be scored.

        ``extras["attention"]`` is (N, len(days), seq_len): weight of days t-19 … t (last = day t).
        """
        self._require()
        from kstock.ml.lstm import net as lstm_net

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
        return MemberOutput(probability=prob, score=score, extras={ATTENTION: attention})

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
        """Wrap a bare :class:`~kstock.ml.lstm.net.StockLSTM` (e.g. from the seed's ``load_lstm_model``)."""
        model = cls(LSTMParams(hidden_size=network.lstm.hidden_size, num_layers=network.lstm.num_layers,
                               missing_indicator=mean is not None and network.lstm.input_size == len(mean) + 1))
        model.network, model.scaler_mean, model.scaler_std = network, mean, std
        return model

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        self._require()
        folder = Path(folder)
        from kstock.ml.lstm import net as lstm_net

        lstm_net.save_checkpoint(self.network, self.scaler_mean, self.scaler_std, folder / MODEL_FILE, {})
        (folder / META_FILE).write_text(json.dumps(
            {"format": FORMAT_VERSION, "params": asdict(self.params), "seed": self.seed,
             "label_cuts": list(self.label_cuts), "features": list(FEATURE_NAMES), "split": self.split,
             "train": self.train_result.metrics() if self.train_result else None}, indent=2))

    @classmethod
    def create(cls, settings: Any, **options: Any) -> LSTMPredictor:
        """``create_model("lstm", settings, **options)``: options may hold ``params`` (LSTMParams or a dict),
        any LSTMParams field by name (``max_epochs=3``; ``epochs`` is the CLI's alias), ``seed``, ``device``,
        ``progress_bar``, ``progress``. The device is CUDA when ``settings.use_gpu`` and one is present."""
        for option in ("phase", "resume"):  # the CLI's options for the sector model; the LSTM has no phases
            if options.pop(option, None) is not None:
                logger.info("lstm: option %r applies to the sector model only; ignored", option)
        if "device" not in options:
            options["device"] = _pick_device(bool(getattr(settings, "use_gpu", False)))
        return cls(params=params_from_options(LSTMParams, options, settings), **options)

    @classmethod
    def load(cls, folder: Path, settings: Any = None, device: str | None = None) -> LSTMPredictor:
        """Load from a registry folder; raises on a missing/corrupt file (the caller marks it unavailable).
        The device: ``device`` when given, else CUDA when ``settings.use_gpu`` and one is present, else the CPU."""
        if not torch_available():
            raise KstockError(f"lstm: {TORCH_MISSING}")
        from kstock.ml.lstm import net as lstm_net

        folder = Path(folder)
        info = json.loads((folder / META_FILE).read_text())
        if list(info["features"]) != list(FEATURE_NAMES):
            raise ValueError("model was trained on a different feature list; retrain it")
        device = device or _pick_device(bool(getattr(settings, "use_gpu", False)))
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


def _pick_device(use_gpu: bool) -> str:
    if not use_gpu:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def predict_window(
    model: Any, recent_features: np.ndarray, scaler_mean: np.ndarray | None, scaler_std: np.ndarray | None,
    seq_len: int = SEQUENCE_LENGTH,
) -> tuple[float, float, np.ndarray] | None:
    """(probability, score, attention (seq_len,)) for one ticker's raw window (≤ seq_len, F), or None.

    ``None`` when torch or the model is missing, or the last day (the day predicted from) has fewer than
    half of its features — never a fake 0.5. A window shorter than the model expects (a new listing) is
    padded in front with missing days.
    """
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
    from kstock.ml.lstm import net as lstm_net

    prob, score, attn = lstm_net.forward_numpy(model, z, present)
    return float(prob[0]), float(score[0]), attn[0]


def _model_input_size(model: Any) -> int:
    return int(model.lstm.input_size)
