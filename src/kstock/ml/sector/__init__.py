"""The sector-aware CNN-transformer (LASPS design), split by concern:

* ``config``    — ``SectorConfig``, every hyperparameter (no torch);
* ``windows``   — 60 × 28 windows and chart images gathered per batch (numpy only);
* ``model``     — ``SectorAwareFusionModel``, ``FocalLoss`` (torch);
* ``trainer``   — ``ThreePhaseTrainer``, checkpoints, DDP (torch);
* ``schedule``  — which phases a run trains, the warm-up + cosine learning rate (torch);
* ``predictor`` — ``SectorPredictor`` (the model interface), ``train_sector``, ``validate_sector``.

Import the public names from :mod:`kstock.ml.sector_model`, which loads torch only when asked.
"""
