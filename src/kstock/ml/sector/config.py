"""Hyperparameters of the sector model and its three-phase training, in one validated dataclass.

The defaults are sized for a 2-core CPU: one ``fit`` (all three phases) sees about 70k windows and
takes a few minutes at 64 px. ``samples_per_epoch`` caps an epoch to a random draw of the training
samples (a fresh draw every epoch, fixed by the seed), so the cost of an epoch does not grow with
the market; set it to 0 to use every sample every epoch (what a GPU run wants).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from kstock.errors import KstockError

#: Keyword aliases accepted by ``SectorConfig.from_options`` (what a generic CLI is likely to pass).
_ALIASES = {"epochs": "phase1_epochs", "lr": "phase1_lr", "image_size": "img_size", "chart_size": "img_size"}


@dataclass(frozen=True)
class SectorConfig:
    # inputs
    window: int = 60  # days per sample (transformer length and chart width)
    # Chart pixels; the default comes from Settings.chart_size (64). Measured against the seed's 224 on
    # market_2023_2025 (benchmarks/bench_sector.py): the same macro-F1 and Rank IC within noise, while
    # 224 px rasterises 5–7× slower, fits 1.5× slower and scores the market 2–2.5× slower.
    img_size: int = 64
    ma: int = 5  # moving average drawn on the chart
    min_traded_days: int = 20  # a window needs this many traded days to be used or scored
    # model
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.1
    # training
    batch_size: int = 128
    phase1_epochs: int = 4
    phase2_epochs: int = 2
    phase3_epochs: int = 2
    phase1_lr: float = 1e-3
    phase2_lr: float = 5e-4
    phase3_lr: float = 1e-4  # fine-tuning everything: an order of magnitude below phase 1
    weight_decay: float = 1e-2
    warmup_frac: float = 0.05  # of each phase's samples, linear warm-up then cosine decay
    grad_clip: float = 1.0
    focal_gamma: float = 2.0
    samples_per_epoch: int = 16_384  # 0 = every training sample each epoch
    phase2_samples_per_sector: int = 2_048  # per sector per epoch (0 = all of the sector's samples)
    min_samples: int = 200  # a sector with fewer training samples keeps the common head
    patience: int = 2  # early stopping: epochs without a better validation loss
    val_fraction: float = 0.15  # the last part of the training days (after an embargo) validates
    val_max_samples: int = 6_000  # a fixed random subset of the validation samples, for speed
    embargo: int | None = None  # days between train and validation; None = the label horizon
    infer_batch: int = 1_024
    seed: int = 0
    device: str = "auto"  # "auto" (cuda when Settings.use_gpu and available), "cpu", "cuda", "cuda:1"
    threads: int | None = None  # torch intra-op threads (None = torch's default)
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)

    def __post_init__(self) -> None:
        problems = []
        if self.window < 5:
            problems.append("window must be ≥ 5 days")
        if not 8 <= self.img_size <= 512:
            problems.append("img_size must be between 8 and 512 pixels")
        if self.d_model % self.n_heads:
            problems.append("d_model must be divisible by n_heads")
        if self.batch_size < 1 or self.infer_batch < 1:
            problems.append("batch sizes must be positive")
        if not 0 < self.val_fraction < 0.5:
            problems.append("val_fraction must be in (0, 0.5)")
        if min(self.phase1_epochs, self.phase2_epochs, self.phase3_epochs) < 0:
            problems.append("epochs must be ≥ 0")
        if not 1 <= self.min_traded_days <= self.window:
            problems.append("min_traded_days must be in [1, window]")
        if problems:
            raise KstockError("sector model settings: " + "; ".join(problems))

    def epochs(self, phase: int) -> int:
        return (self.phase1_epochs, self.phase2_epochs, self.phase3_epochs)[phase - 1]

    def lr(self, phase: int) -> float:
        return (self.phase1_lr, self.phase2_lr, self.phase3_lr)[phase - 1]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SectorConfig:
        """From a saved config (unknown keys from a newer version are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_options(cls, settings: Any = None, **options: Any) -> SectorConfig:
        """Defaults ← ``settings.chart_size`` ← keyword options (CLI). Unknown options are an error.

        ``epochs`` sets phase 1 (phases 2 and 3 keep their own), ``lr`` the phase-1 learning rate.
        ``None`` values are ignored, so a CLI can pass every option it has.
        """
        base = cls(img_size=int(getattr(settings, "chart_size", cls.img_size)))
        known = {f.name for f in fields(cls)}
        updates: dict[str, Any] = {}
        for key, value in options.items():
            if value is None:
                continue
            name = _ALIASES.get(key, key)
            if name not in known:
                raise KstockError(f"sector model: unknown option {key!r}; known: {', '.join(sorted(known))}")
            updates[name] = value
        return replace(base, **updates)
