"""Does a member add something the trees do not have? Its agreement with the trees and the ensemble's gain.

An ensemble earns its members only when they rank differently from the trees *and* the blend ranks better
than the trees alone. Per fold of a walk-forward this says both: each member's mean daily Spearman
correlation with the trees' score (1 = the same order, nothing new), and the ensemble's daily Rank IC from
the next open (bought at t+1's open, sold at the open ``horizon`` days later: what a follower captures, the
statistic the ledger measures live) minus the trees'.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import round_trip_returns
from kstock.ml.evaluation.folds import Fold

#: The member the others are compared with (it carries the call).
REFERENCE = "trees"


def diversity_report(scores: dict[str, np.ndarray], ensemble: np.ndarray, data: Any, folds: list[Fold],
                     horizon: int) -> dict[str, Any] | None:
    """``scores``: each member's out-of-sample score (N, T); None without the trees or another member."""
    if REFERENCE not in scores or len(scores) < 2:
        return None
    returns = round_trip_returns(data.panel, horizon)
    per_fold = [_fold(scores, ensemble, data, fold, returns) for fold in folds]
    members = {name: {"corr_with_trees": _mean([f["corr"][name] for f in per_fold]),
                      "folds": [f["corr"][name] for f in per_fold]}
               for name in scores if name != REFERENCE}
    gains = [f["gain"] for f in per_fold]
    fold_ics = [{"ensemble": f["ensemble_ic"], REFERENCE: f["trees_ic"]} for f in per_fold]
    # over every test day together, as each model's own rank_ic_next_open is
    ensemble_ic = _daily_mean(np.concatenate([f["ensemble_daily"] for f in per_fold]))
    trees_ic = _daily_mean(np.concatenate([f["trees_daily"] for f in per_fold]))
    return {"reference": REFERENCE, "members": members,
            "next_open_rank_ic": {"ensemble": ensemble_ic, REFERENCE: trees_ic, "folds": fold_ics},
            "gain_over_trees": {"mean": ensemble_ic - trees_ic, "worst": min(gains, default=float("nan")),
                                "folds": gains}}


def _fold(scores: dict[str, np.ndarray], ensemble: np.ndarray, data: Any, fold: Fold,
          returns: np.ndarray) -> dict[str, Any]:
    days = fold.test_days()
    mask = np.zeros(len(data.dates), dtype=bool)
    mask[days] = True
    samples = data.sample_mask(mask)[:, days]
    trees = np.where(samples, scores[REFERENCE][:, days], np.nan)
    corr = {name: _daily_mean(mt.daily_rank_ic(np.where(samples, s[:, days], np.nan), trees))
            for name, s in scores.items() if name != REFERENCE}
    target = returns[:, days]
    ensemble_daily = mt.daily_rank_ic(np.where(samples, ensemble[:, days], np.nan), target)
    trees_daily = mt.daily_rank_ic(trees, target)
    ensemble_ic, trees_ic = _daily_mean(ensemble_daily), _daily_mean(trees_daily)
    return {"corr": corr, "ensemble_ic": ensemble_ic, "trees_ic": trees_ic, "gain": ensemble_ic - trees_ic,
            "ensemble_daily": ensemble_daily, "trees_daily": trees_daily}


def _daily_mean(daily: np.ndarray) -> float:
    return float(mt.ic_summary(daily)["mean"])


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
