"""What serves the day's call besides the models: the ensemble's weights and the band table its headline reads.

Below :mod:`kstock.service.predict` (which combines with them) and :mod:`kstock.service.headline` (which
words them), so neither has to import the other. Which table serves is explained in
:mod:`kstock.service.headline`'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kstock.ml.evaluation.calibration import CalibrationTable
from kstock.ml.models import default_weights

if TYPE_CHECKING:
    from kstock.service.context import Services


def ensemble_weights(services: Services) -> dict[str, float]:
    """Weights chosen on validation folds (stored by `kstock evaluate --model ensemble`), else the
    defaults measured on real data (each kind's weight in :data:`kstock.ml.models.KINDS`)."""
    version = services.registry.current("ensemble")
    if version and isinstance(version.meta.get("weights"), dict):
        return {k: float(v) for k, v in version.meta["weights"].items()}
    return default_weights()


def serving_table(services: Services, weights: Mapping[str, float] | None = None) -> CalibrationTable | None:
    """The band table behind today's served score, or None when nothing has been measured yet: the first
    candidate (see the module docstring) that is a two-year record, else the first candidate at all.

    ``weights`` are the ensemble weights in use (default: :func:`ensemble_weights`).
    """
    tables = _candidate_tables(services, weights)
    return next((t for t in tables if t.is_record), tables[0] if tables else None)


def _candidate_tables(services: Services, weights: Mapping[str, float] | None) -> list[CalibrationTable]:
    """The ensemble's table (when every member it weighs serves), then each weighed member's, by weight."""
    if weights is None:
        weights = ensemble_weights(services)
    serving = [name for name, s in services.all_serving().items() if s.model is not None]
    weighed = {name for name, w in weights.items() if w > 0}
    out = []
    ensemble = services.registry.current("ensemble")
    if ensemble is not None and weighed and weighed <= set(serving):
        out.append(CalibrationTable.from_dict(ensemble.meta.get("calibration")))
    for name in sorted((n for n in serving if weights.get(n, 0) > 0), key=lambda n: -weights[n]):
        version = services.registry.current(name)
        out.append(CalibrationTable.from_dict(version.meta.get("calibration")) if version else None)
    return [t for t in out if t is not None]
