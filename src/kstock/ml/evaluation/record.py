"""The long out-of-sample record behind every served number (DESIGN §7), and the same rule in the backtest.

**At training time** (:func:`record_table`): the band table a new model version serves is not its 60-day
validation window — one rally can invert that (kospi's 2026: the top decile read -0.2 % while four years of
walk-forward said +0.46 %) — but a walk-forward over the last :data:`RECORD_YEARS` years (and a margin) of
labelled days, in yearly folds, each trained on everything before it (embargo = the label horizon). The
model kind supplies a cheaper twin of itself for it (the trees: one seed pair, score only), so the record
adds a fraction of the training time. A history too short for it gives None: the caller serves the
validation window and says so (:attr:`CalibrationTable.is_record` is False).

**In the backtest** (:func:`~kstock.ml.evaluation.calibration.buy_calls_then`): the followable book may buy
only the day's 매수 calls, read from the record as it stood at that close (the out-of-sample predictions
whose round trip had ended), exactly as the live book buys only the names its table calls BUY, and buys
nothing when the top band has not beaten the universe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.ml.data import ModelData
from kstock.ml.evaluation.calibration import RECORD_YEARS, CalibrationTable, build_table
from kstock.ml.evaluation.folds import Fold, walk_forward_folds
from kstock.ml.evaluation.walkforward import run_folds

#: Calendar days added to the record's span, so that its first and last scored day are surely
#: :data:`RECORD_YEARS` apart (a day or two at the end has no round trip yet).
MARGIN_DAYS = 30
#: The first fold trains on at least this many trading days (a year).
MIN_TRAIN_DAYS = 252


def record_folds(data: ModelData, horizon: int, years: float = RECORD_YEARS) -> list[Fold] | None:
    """Yearly folds whose test blocks cover the last ``years`` years (+ a margin) of labelled days; None when
    the history leaves less than :data:`MIN_TRAIN_DAYS` of training before them."""
    labelled = np.flatnonzero(data.labels.valid.any(axis=0))
    if labelled.size == 0:
        return None
    last = int(labelled[-1])
    start = data.dates[last] - np.timedelta64(round(years * 365.25) + MARGIN_DAYS, "D")
    lo = int(np.searchsorted(data.dates, start))
    if lo < MIN_TRAIN_DAYS + horizon + 1:
        return None
    return walk_forward_folds(data.dates, math.ceil(years), data.dates[lo], data.dates[last], embargo=horizon,
                              min_train_days=MIN_TRAIN_DAYS)


def record_table(name: str, make_model: Callable[[], Any], data: ModelData, settings: Settings,
                 on_fold: Callable[[int, Fold], None] | None = None) -> CalibrationTable | None:
    """The band table of a walk-forward of ``make_model()`` over the record's folds, or None when the
    history is too short for a :data:`RECORD_YEARS`-year record."""
    folds = record_folds(data, settings.label_horizon)
    if folds is None:
        return None
    oos = run_folds(make_model, data, folds, on_fold)
    days = np.concatenate([f.test_days() for f in folds])
    return build_table(oos.score, data.panel, data.universe, days, horizon=settings.label_horizon,
                       min_traded_value=settings.min_traded_value,
                       source={"kind": "walk_forward", "model": name, "folds": len(folds),
                               "made": "at training time, with a cheaper twin of the model"})
