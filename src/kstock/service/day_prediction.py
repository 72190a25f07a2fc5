"""One day's prediction of the whole market, and the tree score's explanation of it, as plain data.

Made by :func:`kstock.service.predict.predict_day`, written and read back by :mod:`kstock.service.stored_day`;
kept below both (it imports no other service module at run time) so the service modules form a tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kstock.ml.base import Explains, MemberOutput
from kstock.ml.data import ModelData
from kstock.ml.evaluation.calibration import CalibrationTable

if TYPE_CHECKING:
    from kstock.service.context import Services


@dataclass
class DayPrediction:
    day: int  # index into data.dates
    ensemble: MemberOutput  # (N, 1) arrays
    labels: np.ndarray  # (N,) "BUY"/"HOLD"/"SELL" ("" where not scored)
    members: dict[str, MemberOutput | None]
    versions: dict[str, str]
    unavailable: dict[str, str] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    percentile: np.ndarray | None = None  # (N,) the ensemble score's place in the day's cross-section, 0 … 1
    table: CalibrationTable | None = None  # the band table the labels were read from (None: none measured)
    #: the tree score's per-feature contributions that day; None: computed from the serving trees when asked
    #: (:func:`explain_day`), set when the day was read back from the stored scoring (service.stored_day)
    explanation: DayExplanation | None = None


@dataclass(frozen=True)
class DayExplanation:
    """Every ticker's feature row and TreeSHAP contributions on one day: what the SHAP reasons read."""

    feature_names: tuple[str, ...]
    values: np.ndarray  # (N, F) the tree model's own feature rows
    contributions: np.ndarray  # (N, F) each feature's contribution to the tree score


def explain_day(services: Services, pred: DayPrediction, data: ModelData) -> DayExplanation | None:
    """The day's explanation: the stored one, or the serving trees' (computed once per model version, window
    and day: one LightGBM call for the market costs about what three single-row calls did, and 20 users
    asking at once then share it instead of queueing one call each behind the GIL). None without trees."""
    if pred.explanation is not None:
        return pred.explanation
    serving = services.serving("trees")
    trees = serving.model
    if not isinstance(trees, Explains):  # not served (None), or a model without per-feature contributions
        return None
    key = ("trees-shap", serving.version.version if serving.version else None, str(data.dates[0]), pred.day)

    def compute() -> DayExplanation:
        values = trees.day_rows(data, pred.day)  # the model's own feature set (the 30, or with the extra ones)
        return DayExplanation(tuple(trees.feature_names), values, trees.contributions_matrix(values))

    return services.day_cache.get(key, compute)
