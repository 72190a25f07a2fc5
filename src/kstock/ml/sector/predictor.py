"""``SectorPredictor``: the sector model behind kstock's common model interface (``name = "sector"``).

* ``fit(data, train_days)`` runs all three phases (``ThreePhaseTrainer``) on the training days;
* ``predict_days(data, days)`` scores every predictable ticker on each day in batches, through the
  sector heads, and returns ``MemberOutput(probability=P(BUY), score=P(BUY) − P(SELL),
  extras={"class_probs": (N, D, 3), "head": (N, D)})`` — ``head`` is the sector head that answered,
  −1 for the common head, NaN where no prediction was possible (not a common stock, no trade that
  day, fewer than ``min_traded_days`` traded days in the window, or less than a window of history);
* ``save(folder)`` writes ``sector_model.pt`` (the state_dict, ``torch.save``) and
  ``sector_model.json`` (config, feature list, scaler, class weights, metrics); ``load(folder)``
  reads them back with ``torch.load(weights_only=True)``.

``train_sector`` is what ``kstock train sector [--phase 1|2|3|all] [--resume]`` calls;
``validate_sector`` is ``kstock validate sector [--checkpoint FILE]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kstock.config import Settings
from kstock.errors import KstockError
from kstock.features.labels import CLASS_NAMES
from kstock.market.sectors import SECTOR_NAMES
from kstock.ml.base import CALL_PROBS, CLASS_CALL, CLASS_DECISION, CLASS_PROBS, SECTOR_HEAD, MemberOutput
from kstock.ml.data import ModelData
from kstock.ml.sector.checkpoints import load_checkpoint
from kstock.ml.sector.config import SectorConfig
from kstock.ml.sector.decision import ClassDecision
from kstock.ml.sector.model import FocalLoss, SectorAwareFusionModel
from kstock.ml.sector.runtime import evaluate_samples, infer, resolve_device
from kstock.ml.sector.trainer import ThreePhaseTrainer
from kstock.ml.sector.windows import (
    N_WINDOW_FEATURES,
    WINDOW_FEATURES,
    Split,
    WindowScaler,
    WindowSource,
    make_split,
    window_samples,
)

MODEL_FILE, META_FILE_NAME = "sector_model.pt", "sector_model.json"
FORMAT = 1
#: Samples per forward pass when predicting on the CPU. The chart CNN's activations for a batch of 1,024
#: cost ~300 MB, the largest transient of the daily scoring (issue 23: ≤ 1 GB peak); 256 cost a quarter of
#: that at about the same speed, and each sample's output does not depend on its batch (eval mode).
CPU_PREDICT_BATCH = 256


def build_model(config: SectorConfig, n_sectors: int = len(SECTOR_NAMES)) -> SectorAwareFusionModel:
    """A fresh model for ``config`` (seeded, so the same config gives the same initial weights)."""
    torch.manual_seed(config.seed)
    return SectorAwareFusionModel(n_features=N_WINDOW_FEATURES, window=config.window, img_size=config.img_size,
                                  d_model=config.d_model, n_heads=config.n_heads, n_layers=config.n_layers,
                                  n_sectors=n_sectors, dropout=config.dropout)


class SectorPredictor:
    """The sector-aware CNN-transformer as a kstock model; see the module docstring."""

    name = "sector"
    #: every rank of a ``torchrun`` job fits (DDP); rank 0 alone validates and promotes (:mod:`kstock.ml.distributed`)
    trains_distributed = True

    def __init__(self, settings: Settings | None = None, config: SectorConfig | None = None,
                 checkpoint_dir: str | Path | bool | None = None, progress: bool | Callable | None = False,
                 phase: str | int = "all", resume: bool = False, **options: Any) -> None:
        self.settings = settings or Settings()
        self.config = config or SectorConfig.from_options(self.settings, **options)
        if checkpoint_dir is False:  # walk-forward folds need no checkpoints
            self.checkpoint_dir: Path | None = None
        elif checkpoint_dir in (None, True):
            self.checkpoint_dir = default_checkpoint_dir(self.settings)
        else:
            self.checkpoint_dir = Path(checkpoint_dir)
        self.progress = progress
        self.phase, self.resume = phase, bool(resume)
        self.device = resolve_device(self.config, self.settings.use_gpu)
        self.model: SectorAwareFusionModel | None = None
        self.scaler: WindowScaler | None = None
        self.class_weights = np.ones(3)
        self.metrics: dict[str, Any] = {}
        self.decision: ClassDecision | None = None  # None: a model saved before the offsets
        self.info: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []

    def set_progress(self, say: Callable[[str], None]) -> None:
        """Report training progress as short text lines (the retrain service edits a chat message with them)."""
        self.progress = text_progress(say)

    @property
    def history_days(self) -> int:
        """Days of features and prices one prediction reads (the serving window is sized from it)."""
        return int(self.config.window)

    # -- training -------------------------------------------------------------------------------
    def fit(self, data: ModelData, train_days: np.ndarray, phases: str | int | None = None,
            resume: bool | None = None) -> dict[str, float]:
        """Train the phases (default: those given at construction, "all") on the samples of ``train_days``
        (bool over ``data.dates``); ``resume`` continues from the newest checkpoint."""
        split = make_split(data, train_days, self.config, data.labels.horizon)
        trainer = ThreePhaseTrainer(build_model(self.config), split, self.config, self.checkpoint_dir,
                                    self.progress, self.device)
        self.metrics = trainer.run(self.phase if phases is None else phases,
                                   resume=self.resume if resume is None else resume)
        self._adopt(trainer.model, split)
        self.history = trainer.history
        # the call: its class weights undone, judged on the validation days by the last phase's best epoch
        self.decision = ClassDecision.from_metrics(split.class_weights, self.metrics[max(self.metrics)]
                                                   if self.metrics else {})
        last = self.metrics[max(self.metrics)] if self.metrics else {}
        return {"train_samples": float(split.info["n_train"]), "val_samples": float(split.info["n_val"]),
                "val_decision_accuracy": self.decision.accuracy,
                "val_decision_hold_accuracy": self.decision.hold_accuracy,
                "val_loss": float(last.get("loss", np.nan)), "val_macro_f1": float(last.get("macro_f1", np.nan)),
                "val_hold_baseline_macro_f1": float(last.get("hold_baseline_macro_f1", np.nan)),
                "val_accuracy": float(last.get("accuracy", np.nan))}

    def _adopt(self, model: SectorAwareFusionModel, split: Split) -> None:
        self.model = model.eval()
        self.scaler = split.source.scaler
        self.class_weights = np.asarray(split.class_weights, dtype=float)
        self.info = {**split.info, "sector_counts": [int(c) for c in split.sector_counts],
                     "active_heads": [int(s) for s in np.flatnonzero(model.head_active.cpu().numpy())]}

    # -- inference -----------------------------------------------------------------------------
    def source(self, data: ModelData) -> WindowSource:
        if self.model is None or self.scaler is None:
            raise RuntimeError("SectorPredictor is not fitted")
        return WindowSource(data, self.scaler, self.config.window, self.config.img_size, self.config.ma)

    def predict_samples(self, data: ModelData, tickers: np.ndarray,
                        days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (n, 3) and the head used (n,) for explicit (ticker, day) samples."""
        batch = self.config.infer_batch if self.device.type != "cpu" else min(self.config.infer_batch,
                                                                               CPU_PREDICT_BATCH)
        probs, _, heads = infer(self.model, self.source(data), tickers, days, batch, self.device, phase=2)
        return probs, heads

    def predict_days(self, data: ModelData, days: np.ndarray) -> MemberOutput:
        """Every predictable ticker on the given day indices, batched across tickers and days."""
        days = np.asarray(days, dtype=np.int64)
        mask = np.zeros(len(data.dates), dtype=bool)
        mask[days] = True
        tick, day = window_samples(data, mask, self.config.window, self.config.min_traded_days, need_label=False)
        column = np.full(len(data.dates), -1)
        column[days] = np.arange(len(days))
        shape = (len(data.panel.codes), len(days))
        class_probs = np.full((*shape, 3), np.nan)
        head = np.full(shape, np.nan)
        if len(tick):
            probs, heads = self.predict_samples(data, tick, day)
            class_probs[tick, column[day]] = probs
            head[tick, column[day]] = heads
        buy, sell = class_probs[..., 2], class_probs[..., 0]
        decision = self.decision or ClassDecision()
        decided = decision.decide(class_probs)
        extras = {CLASS_PROBS: class_probs, SECTOR_HEAD: head, CLASS_DECISION: decided}
        if self.class_call_earned():
            extras[CLASS_CALL], extras[CALL_PROBS] = decided, decision.posterior(class_probs)
        return MemberOutput(probability=buy.copy(), score=buy - sell, extras=extras)

    def class_call_earned(self) -> bool:
        """Whether its three-class call beat answering HOLD every time (accuracy) on its validation days, which
        training never saw: below that, its class is no call and an analysis does not show it (its score still
        feeds the ensemble). A model saved before the offsets is judged by its plain argmax on its validation."""
        if self.decision is not None:
            return self.decision.earned
        last = self.metrics[max(self.metrics)] if self.metrics else {}
        accuracy, hold = last.get("accuracy"), last.get("hold_baseline_accuracy")
        try:
            return bool(np.isfinite(accuracy) and np.isfinite(hold) and accuracy >= hold)
        except TypeError:  # a model saved without the numbers
            return False

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        if self.model is None or self.scaler is None:
            raise RuntimeError("SectorPredictor is not fitted")
        folder = Path(folder)
        torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, folder / MODEL_FILE)
        (folder / META_FILE_NAME).write_text(json.dumps(self.meta(), ensure_ascii=False, indent=2, default=float))

    def meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "config": self.config.as_dict(), "model_config": dict(self.model.config),
                "window_features": list(WINDOW_FEATURES), "scaler": self.scaler.to_dict(),
                "class_weights": [float(w) for w in self.class_weights], "metrics": self.metrics,
                "decision": self.decision.as_dict() if self.decision else None, "info": self.info}

    @classmethod
    def create(cls, settings: Settings, **options: Any) -> SectorPredictor:
        """``create_model("sector", settings, **options)``: the options are the constructor's."""
        return cls(settings=settings, **options)

    @classmethod
    def load(cls, folder: Path, settings: Settings | None = None) -> SectorPredictor:
        """Load from a registry folder; raises on a missing/corrupt file (the caller marks it unavailable)."""
        folder = Path(folder)
        meta = json.loads((folder / META_FILE_NAME).read_text())
        state = torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True)
        return cls._from_parts(meta, state, settings)

    @classmethod
    def from_checkpoint(cls, path: Path, settings: Settings | None = None) -> SectorPredictor:
        """A predictor from a trainer checkpoint (``phaseP_epochEEE.pt`` / ``phaseP_final.pt``)."""
        ck = load_checkpoint(Path(path))
        meta = {"format": FORMAT, "config": ck["config"], "model_config": ck["model_config"],
                "window_features": list(WINDOW_FEATURES), "scaler": ck["prep"]["scaler"],
                "class_weights": ck["prep"]["class_weights"], "metrics": ck.get("phase_metrics", {}),
                "info": {**ck["prep"]["split"], "sector_counts": ck["prep"]["sector_counts"],
                         "checkpoint": str(path), "phase": ck["phase"], "epoch": ck["epoch"]}}
        return cls._from_parts(meta, ck["model"], settings)

    @classmethod
    def _from_parts(cls, meta: dict[str, Any], state: dict[str, Any], settings: Settings | None) -> SectorPredictor:
        if meta.get("format") != FORMAT:
            raise ValueError(f"unsupported sector model format {meta.get('format')!r}")
        if list(meta["window_features"]) != list(WINDOW_FEATURES):
            raise ValueError("the sector model was trained on a different feature list; retrain it")
        model_cfg = dict(meta["model_config"])
        if model_cfg["n_features"] != N_WINDOW_FEATURES:
            raise ValueError(f"model input width {model_cfg['n_features']} != {N_WINDOW_FEATURES} window features")
        predictor = cls(settings=settings, config=SectorConfig.from_dict(meta["config"]))
        model = SectorAwareFusionModel(**model_cfg)
        model.load_state_dict(state)
        predictor.model = model.to(predictor.device).eval()
        predictor.scaler = WindowScaler.from_dict(meta["scaler"])
        predictor.class_weights = np.asarray(meta["class_weights"], dtype=float)
        predictor.metrics, predictor.info = meta.get("metrics", {}), meta.get("info", {})
        predictor.decision = ClassDecision.from_dict(meta.get("decision"))
        predictor.info["active_heads"] = [int(s) for s in np.flatnonzero(model.head_active.cpu().numpy())]
        return predictor

    def describe(self) -> dict[str, Any]:
        active = self.info.get("active_heads", [])
        return {"name": self.name, "img_size": self.config.img_size, "window": self.config.window,
                "features": len(WINDOW_FEATURES), "active_heads": [SECTOR_NAMES[s] for s in active],
                "train_range": [self.info.get("train_start"), self.info.get("train_end")],
                "validation": self.metrics.get(max(self.metrics)) if self.metrics else None,
                "decision": self.decision.as_dict() if self.decision else None}


def text_progress(say: Callable[[str], None], every: float = 0.1) -> Callable[[dict[str, Any]], None]:
    """Trainer events → short lines: about every ``every`` of an epoch, each epoch's validation, each phase."""
    state = {"next": every}

    def callback(e: dict[str, Any]) -> None:
        kind = e.get("event")
        if kind == "batch":
            frac = e["done"] / max(1, e["total"])
            if frac + 1e-9 >= state["next"]:
                state["next"] = (int(frac / every) + 1) * every
                say(f"sector: {e['phase']}/3단계, 반복 {e['epoch']}/{e['epochs']}: {frac:.0%}, "
                    f"손실 {e['loss']:.4f}")
        elif kind == "epoch":
            state["next"] = every
            say(f"sector: {e['phase']}/3단계, 반복 {e['epoch']} 끝 — 검증 손실 {e['val_loss']:.4f}, "
                f"macro-F1 {e['val_macro_f1']:.3f} (늘 HOLD 기준선 {e['val_hold_baseline_macro_f1']:.3f})")
        elif kind == "phase":
            say(f"sector: {e['phase']}/3단계 끝 (가장 좋은 반복 {e['best_epoch']}, "
                f"macro-F1 {e['macro_f1']:.3f})")
        elif kind == "oom":
            say(f"sector: 메모리 부족 — 배치 크기를 {e['batch_size']}(으)로 줄였습니다")

    return callback


def default_checkpoint_dir(settings: Settings) -> Path:
    """Under the model folder, hidden from the registry's model list."""
    return Path(settings.model_dir) / ".checkpoints" / "sector"


def train_sector(data: ModelData, settings: Settings, phase: str | int = "all", resume: bool = False,
                 checkpoint_dir: str | Path | None = None, progress: bool | Callable | None = True,
                 train_days: np.ndarray | None = None, **options: Any) -> SectorPredictor:
    """Train the sector model on ``train_days`` (default: every day), checkpointing to ``checkpoint_dir``.

    ``phase`` 1, 2, 3 or "all"; phase 2 or 3 alone starts from the previous phase's final checkpoint.
    ``resume`` continues from the newest checkpoint in ``checkpoint_dir``. Returns the fitted
    predictor; the caller saves it through the registry.
    """
    predictor = SectorPredictor(settings=settings, checkpoint_dir=checkpoint_dir, progress=progress, phase=phase,
                                resume=resume, **options)
    days = np.ones(len(data.dates), dtype=bool) if train_days is None else np.asarray(train_days, dtype=bool)
    predictor.fit(data, days)
    return predictor


def validate_sector(data: ModelData, predictor: SectorPredictor, start: str | None = None, end: str | None = None,
                    max_samples: int = 20_000, seed: int = 0) -> dict[str, Any]:
    """Loss, accuracy, per-class accuracy, macro-F1 and the HOLD baseline, routed through the sector heads.

    The days default to the model's own validation period (``info['val_start'..'val_end']``) when
    the data covers it, else the last 15 % of the data's days.
    """
    if start is None and end is None and predictor.info.get("val_start"):
        start, end = predictor.info["val_start"], predictor.info["val_end"]
        if not data.day_mask(start, end).any():
            start = end = None
    if start is None and end is None:
        n = len(data.dates)
        start = str(data.dates[max(0, n - max(1, round(0.15 * n)))])
    days = data.day_mask(start, end)
    cfg = predictor.config
    tick, day = window_samples(data, days, cfg.window, cfg.min_traded_days, need_label=True)
    if len(tick) == 0:
        raise KstockError(f"no labelled samples to validate on between {start} and {end or 'the end'}")
    if len(tick) > max_samples:
        pick = np.sort(np.random.default_rng(seed).choice(len(tick), max_samples, replace=False))
        tick, day = tick[pick], day[pick]
    loss_fn = FocalLoss(torch.tensor(predictor.class_weights, dtype=torch.float32), cfg.focal_gamma)
    out = evaluate_samples(predictor.model, predictor.source(data), tick, day, loss_fn, cfg.infer_batch,
                           predictor.device, phase=2, decision=predictor.decision)
    out.update(start=str(data.dates[day.min()]), end=str(data.dates[day.max()]), classes=list(CLASS_NAMES))
    return out
