"""The sector-aware CNN-transformer (LASPS design), the ``"sector"`` model kind, split by concern:

* ``config``    — ``SectorConfig``, every hyperparameter (no torch);
* ``windows``   — 60 × 28 windows and chart images gathered per batch (numpy only);
* ``model``     — ``SectorAwareFusionModel``, ``FocalLoss`` (torch);
* ``trainer``   — ``ThreePhaseTrainer``, checkpoints, DDP (torch);
* ``schedule``  — which phases a run trains, the warm-up + cosine learning rate (torch);
* ``predictor`` — ``SectorPredictor`` (the model interface), ``train_sector``, ``validate_sector`` (torch).

This package itself imports no torch: it re-exports the torch-free names below. Import the torch-backed
ones from their modules (``from kstock.ml.sector.predictor import SectorPredictor``) once
:func:`kstock.ml.models.unavailable_reason` says the kind can run; without torch the kind reports
"unavailable (torch not installed)" and everything else carries on with the trees.

Distributed training (see :mod:`kstock.ml.sector.trainer`)::

    torchrun --standalone --nproc_per_node=4 -m kstock train sector --db data/kstock.db

Every rank trains (DistributedDataParallel); only rank 0 writes checkpoints, validates, promotes and
writes the registry (:func:`kstock.service.retrain.retrain` through :mod:`kstock.ml.distributed`); the
other ranks wait for it at a barrier and exit 0.

Walk-forward folds need no checkpoints: create them with ``checkpoint_dir=False``. Otherwise the
trainer checkpoints into ``<KSTOCK_MODEL_DIR>/.checkpoints/sector`` (hidden from the registry's model
list) so that ``kstock train sector --resume`` can continue an interrupted run.
"""

from kstock.ml.distributed import is_main_process
from kstock.ml.sector.config import SectorConfig
from kstock.ml.sector.windows import (
    CALENDAR_FEATURES,
    DROPPED_FEATURES,
    MARKET_FEATURES,
    N_WINDOW_FEATURES,
    WINDOW_FEATURES,
)

__all__ = ["CALENDAR_FEATURES", "DROPPED_FEATURES", "MARKET_FEATURES", "N_WINDOW_FEATURES", "WINDOW_FEATURES",
           "SectorConfig", "is_main_process"]
