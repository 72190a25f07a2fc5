"""The cross-sectional transformer as a model kind (``cross`` in the kinds table).

The trees and the LSTM see one stock at a time; this model sees each day's whole cross-section at once: every
stock's 30 daily features and its sector become a token, and attention runs across the day's tokens, so a
stock is read beside its sector peers and the market (the seed's "graph attention over related stocks",
without a hand-made graph: the sector embedding and the attention find the relations). It learns the daily
rank of the return from the next day — what a follower captures — with a per-day correlation loss
(:mod:`kstock.ml.lstm.ranking`), and P(5-day return > target) beside it.

Validation is by date, like the other models: the last 15 % of the training days after an embargo of at
least the label horizon; the epoch with the best validation Rank IC is kept. torch is imported lazily.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.features.labels import rank_target
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.base import TORCH_MISSING, MemberOutput, params_from_options, torch_available
from kstock.ml.cross.data import FORMAT_VERSION, CrossParams, day_rows, sector_tokens
from kstock.ml.evaluation import metrics as mt
from kstock.ml.lstm.data import fit_scaler, split_days

MODEL_FILE = "model.pt"
META_FILE = "cross.json"


class CrossSectionPredictor:
    """The served model: ``fit`` / ``predict_days`` / ``save`` / ``load`` (the contract of :mod:`kstock.ml.base`)."""

    name = "cross"

    def __init__(self, params: CrossParams | None = None, seed: int = 0,
                 progress: Callable[[int, int, dict[str, float]], None] | None = None) -> None:
        self.params = params or CrossParams()
        self.seed = seed
        self.progress = progress
        self.network: Any = None
        self.scaler_mean: np.ndarray | None = None
        self.scaler_std: np.ndarray | None = None
        self.train_metrics: dict[str, float] = {}
        self.split: dict[str, str] = {}

    @property
    def history_days(self) -> int:
        """It reads one day's features (their own look-back is the feature pipeline's)."""
        return 1

    def set_progress(self, say: Callable[[str], None]) -> None:
        def report(epoch: int, total: int, m: dict[str, float]) -> None:
            say(f"cross: 학습 반복(epoch) {epoch}/{total} — 학습 손실 {m['train_loss']:.4f}, "
                f"검증 순위 IC {m['val_rank_ic']:.4f}")

        self.progress = report

    # -- training ----------------------------------------------------------------------------
    def fit(self, data: Any, train_days: np.ndarray) -> dict[str, float]:
        """Train on the days of ``train_days`` (bool over data.dates); returns the validation metrics."""
        if not torch_available():
            raise KstockError(f"cross: {TORCH_MISSING}")
        from kstock.ml.cross import net as cross_net

        p = self.params
        target = rank_target(data.labels, p.label)
        labelled = data.sample_mask(np.ones(len(data.dates), dtype=bool)) & np.isfinite(target)
        embargo = max(p.embargo, int(data.labels.horizon))
        fit_days, val_days = split_days(np.flatnonzero(train_days), p.val_fraction, embargo)
        enough = labelled.sum(axis=0) >= p.min_names
        fit_days, val_days = fit_days[enough[fit_days]], val_days[enough[val_days]]
        if len(fit_days) < 2 * p.days_per_batch or not len(val_days):
            raise KstockError(f"cross: 학습할 날이 너무 적습니다 (학습 {len(fit_days)}일, 검증 {len(val_days)}일); "
                              "데이터를 더 가져오세요")
        fit_mask = np.zeros(len(data.dates), dtype=bool)
        fit_mask[fit_days] = True
        self.scaler_mean, self.scaler_std = fit_scaler(data.features.values[labelled & fit_mask[None, :]],
                                                       seed=self.seed)
        sectors = sector_tokens(data.panel.sector_ids, len(data.panel.codes))
        batches = _Batches(data, labelled, target, self.scaler_mean, self.scaler_std, sectors)
        with _torch_threads(p.n_threads, self.seed):
            self.network = cross_net.CrossSectionNet(data.features.values.shape[2] + 1, int(sectors.max()) + 1,
                                                     p.d_model, p.heads, p.layers, p.dropout)
            result = cross_net.fit_network(self.network, fit_days, batches.of,
                                           lambda net: self._val_ic(net, data, val_days, target), p, self.seed,
                                           self.progress)
        self.train_metrics = result.metrics() | {"train_days": float(len(fit_days)),
                                                 "val_days": float(len(val_days))}
        self.split = {"fit_start": str(data.dates[fit_days[0]]), "fit_end": str(data.dates[fit_days[-1]]),
                      "val_start": str(data.dates[val_days[0]]), "val_end": str(data.dates[val_days[-1]])}
        return dict(self.train_metrics)

    def _val_ic(self, net: Any, data: Any, days: np.ndarray, target: np.ndarray) -> float:
        network, self.network = self.network, net
        try:
            score = self.predict_days(data, days).score
        finally:
            self.network = network
        return float(mt.ic_summary(mt.daily_rank_ic(score, target[:, days]))["mean"])

    # -- inference ---------------------------------------------------------------------------
    def predict_days(self, data: Any, days: np.ndarray) -> MemberOutput:
        """Every scorable ticker on the given day indices; NaN where a ticker cannot be scored."""
        if self.network is None or self.scaler_mean is None or self.scaler_std is None:
            raise RuntimeError("CrossSectionPredictor is not fitted")
        from kstock.ml.cross import net as cross_net

        days = np.asarray(days)
        day_mask = np.zeros(len(data.dates), dtype=bool)
        day_mask[days] = True
        ok = data.sample_mask(day_mask, need_label=False)[:, days]
        prob, score = np.full(ok.shape, np.nan), np.full(ok.shape, np.nan)
        sectors = sector_tokens(data.panel.sector_ids, len(data.panel.codes), self.network.config["n_sectors"])
        self.network.eval()
        with _torch_threads(self.params.n_threads):
            for j, day in enumerate(days):
                names = np.flatnonzero(ok[:, j])
                if len(names) < 2:  # one stock alone has no peers to be ranked against
                    continue
                x = day_rows(data.features.values, names, int(day), self.scaler_mean, self.scaler_std)
                prob[names, j], score[names, j] = cross_net.predict_day(self.network, x, sectors[names])
        return MemberOutput(probability=prob, score=score)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": asdict(self.params), "seed": self.seed, "split": self.split,
                "train": self.train_metrics}

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        if self.network is None or self.scaler_mean is None or self.scaler_std is None:
            raise RuntimeError("CrossSectionPredictor is not fitted")
        import torch

        folder = Path(folder)
        torch.save({k: v.detach().cpu() for k, v in self.network.state_dict().items()}, folder / MODEL_FILE)
        (folder / META_FILE).write_text(json.dumps(
            {"format": FORMAT_VERSION, "params": asdict(self.params), "seed": self.seed,
             "network": self.network.config, "features": list(FEATURE_NAMES),
             "scaler": {"mean": self.scaler_mean.tolist(), "std": self.scaler_std.tolist()},
             "split": self.split, "train": self.train_metrics}, indent=2))

    @classmethod
    def load(cls, folder: Path, settings: Any = None) -> CrossSectionPredictor:
        """From a registry folder; raises on a missing/corrupt file (the caller marks the kind unavailable)."""
        if not torch_available():
            raise KstockError(f"cross: {TORCH_MISSING}")
        import torch

        from kstock.ml.cross import net as cross_net

        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text())
        if meta.get("format") != FORMAT_VERSION or list(meta["features"]) != list(FEATURE_NAMES):
            raise ValueError("the cross-sectional model was saved by another version or feature list; retrain it")
        model = cls(CrossParams.from_dict(meta["params"]), seed=int(meta["seed"]))
        model.network = cross_net.CrossSectionNet(**meta["network"])
        model.network.load_state_dict(torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True))
        model.network.eval()
        model.scaler_mean = np.asarray(meta["scaler"]["mean"], dtype=np.float32)
        model.scaler_std = np.asarray(meta["scaler"]["std"], dtype=np.float32)
        model.split, model.train_metrics = meta.get("split", {}), meta.get("train", {})
        return model

    @classmethod
    def create(cls, settings: Any, **options: Any) -> CrossSectionPredictor:
        """``create_model("cross", settings, **options)``: ``params`` (CrossParams or a dict), any CrossParams
        field by name (``epochs`` is the CLI's alias of ``max_epochs``), ``seed``, ``progress``; the deep kinds'
        other CLI options (``phase``, ``resume``, ``device``, ``progress_bar``) do not apply and are ignored."""
        for option in ("phase", "resume", "device", "progress_bar"):
            options.pop(option, None)
        return cls(params=params_from_options(CrossParams, options, settings), **options)


class _Batches:
    """Training batches: the labelled stocks of each day, padded to the batch's largest day."""

    def __init__(self, data: Any, labelled: np.ndarray, target: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 sectors: np.ndarray) -> None:
        self.values, self.labelled, self.target, self.sectors = data.features.values, labelled, target, sectors
        self.up = np.nan_to_num(data.labels.up)
        self.mean, self.std = mean, std

    def of(self, days: np.ndarray) -> tuple[Any, ...]:
        import torch

        names = [np.flatnonzero(self.labelled[:, t]) for t in days]
        width, n_inputs = max(len(n) for n in names), self.values.shape[2] + 1
        x = np.zeros((len(days), width, n_inputs), np.float32)
        sector = np.zeros((len(days), width), np.int64)
        pad = np.ones((len(days), width), bool)
        up, rank = np.zeros((len(days), width), np.float32), np.zeros((len(days), width), np.float32)
        for b, (t, idx) in enumerate(zip(days, names, strict=True)):
            k = len(idx)
            x[b, :k] = day_rows(self.values, idx, int(t), self.mean, self.std)
            sector[b, :k], pad[b, :k] = self.sectors[idx], False
            up[b, :k], rank[b, :k] = self.up[idx, t], self.target[idx, t]
        return tuple(torch.from_numpy(a) for a in (x, sector, pad, up, rank))


@contextlib.contextmanager
def _torch_threads(n_threads: int, seed: int | None = None) -> Iterator[None]:
    """Train or predict on ``n_threads`` (restored after); with ``seed``, seeded and with the caller's random
    state left as it was (the same seed, data and threads give the same weights)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n_threads))
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(before)
