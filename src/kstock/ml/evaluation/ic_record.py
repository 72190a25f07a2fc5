"""The out-of-sample record of a model's daily Rank IC from the next open, and what it lets us expect live.

The statistic is the one the ledger measures on every published day (DESIGN §8): the cross-sectional
Spearman correlation between the day's scores and the return a follower captures — bought at the next
open, sold at the open ``horizon`` days later
(:func:`~kstock.ml.evaluation.calibration.round_trip_returns`). A version stores the series of its
out-of-sample days (``meta["ic_record"]``: a walk-forward's test blocks, or a retrain's held-out window);
:func:`expected_range` turns it into the spread of its rolling ``window``-day means, the yardstick a live
rolling mean is held against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import round_trip_returns

#: Days in a rolling window of the live record (and of the windows the record's spread is taken over).
WINDOW = 20
#: A rolling mean below this percentile of the record's windows is out of range.
LOW_PERCENTILE = 5.0
HIGH_PERCENTILE = 95.0


def daily_next_open_ic(score: np.ndarray, panel: Any, horizon: int, days: np.ndarray,
                       returns: np.ndarray | None = None) -> np.ndarray:
    """Rank IC of ``score`` ((N, len(days)), NaN = not scored) against the next-open round trip, per day."""
    returns = round_trip_returns(panel, horizon)[:, days] if returns is None else returns
    return mt.daily_rank_ic(np.asarray(score, dtype=float), returns)


def ic_record(dates: np.ndarray, daily_ic: np.ndarray, kind: str) -> dict[str, Any]:
    """The series as stored in a version's meta (days without an IC left out)."""
    daily_ic = np.asarray(daily_ic, dtype=float)
    keep = np.isfinite(daily_ic)
    return {"kind": kind, "dates": [str(d) for d in np.asarray(dates)[keep]],
            "rank_ic": [round(float(v), 6) for v in daily_ic[keep]]}


def rolling_means(values: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Means of every run of ``window`` consecutive values (empty when there are fewer)."""
    v = np.asarray(values, dtype=float)
    if v.size < window:
        return np.empty(0)
    cum = np.concatenate([[0.0], np.cumsum(v)])
    return (cum[window:] - cum[:-window]) / window


def expected_range(record: Any, window: int = WINDOW) -> dict[str, Any] | None:
    """The record's daily mean and the 5th–95th percentiles of its rolling ``window``-day means; None when no
    record is stored or it is shorter than two windows (too few to say what to expect)."""
    try:
        values = np.asarray([float(v) for v in record["rank_ic"]], dtype=float)
    except (KeyError, TypeError, ValueError):
        return None
    values = values[np.isfinite(values)]
    means = rolling_means(values, window)
    if values.size < 2 * window:
        return None
    dates = record.get("dates") or [None]
    return {"mean": float(values.mean()), "low": float(np.percentile(means, LOW_PERCENTILE)),
            "high": float(np.percentile(means, HIGH_PERCENTILE)), "window": window, "days": int(values.size),
            "kind": record.get("kind"), "first_day": dates[0], "last_day": dates[-1]}
