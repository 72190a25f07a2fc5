"""The sector-aware CNN-transformer as a kstock model kind (``"sector"``); code in :mod:`kstock.ml.sector`.

Importing this module never imports torch: it resolves the torch-backed names
(``SectorAwareFusionModel``, ``ThreePhaseTrainer``, ``SectorPredictor``, ``train_sector``, …)
on first access. Without torch the kind reports
"unavailable (torch not installed)" and everything else carries on with the trees.

Distributed training (see :mod:`kstock.ml.sector.trainer`)::

    torchrun --standalone --nproc_per_node=4 -m kstock train sector --db data/kstock.db

Every rank trains (DistributedDataParallel); only rank 0 writes checkpoints, and a caller should
save or promote the trained model only where :func:`is_main_process` is true.

Walk-forward folds need no checkpoints: create them with ``checkpoint_dir=False``. Otherwise the
trainer checkpoints into ``<KSTOCK_MODEL_DIR>/.checkpoints/sector`` (hidden from the registry's model
list) so that ``kstock train sector --resume`` can continue an interrupted run.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from kstock.ml.sector.config import SectorConfig
from kstock.ml.sector.windows import (
    CALENDAR_FEATURES,
    DROPPED_FEATURES,
    MARKET_FEATURES,
    N_WINDOW_FEATURES,
    WINDOW_FEATURES,
)

_LAZY: dict[str, str] = {
    "SectorAwareFusionModel": "kstock.ml.sector.model",
    "FocalLoss": "kstock.ml.sector.model",
    "LinearAttention": "kstock.ml.sector.model",
    "ThreePhaseTrainer": "kstock.ml.sector.trainer",
    "make_split": "kstock.ml.sector.windows",
    "SectorPredictor": "kstock.ml.sector.predictor",
    "build_model": "kstock.ml.sector.predictor",
    "train_sector": "kstock.ml.sector.predictor",
    "validate_sector": "kstock.ml.sector.predictor",
    "head_name": "kstock.ml.sector.predictor",
    "default_checkpoint_dir": "kstock.ml.sector.predictor",
}

__all__ = ["CALENDAR_FEATURES", "DROPPED_FEATURES", "MARKET_FEATURES", "N_WINDOW_FEATURES", "WINDOW_FEATURES",
           "SectorConfig", "is_main_process", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_main_process() -> bool:
    """False on the non-zero ranks of a ``torchrun`` job: only rank 0 saves models and prints results."""
    return int(os.environ.get("RANK", "0")) == 0
