"""What the trees' score model learns: its target and, for a ranking objective, the daily groups.

The default score model regresses the daily cross-sectional rank of the 5-day return. Two variations
(issue 16, "keep more of the edge"): learn the return from the next day instead of from today's close
(``label="tradeable"``: what a subscriber who acts on the push can still capture), and learn to *rank*
each day's tickers (``objective="ranking"``: LightGBM ``lambdarank``, XGBoost ``rank:pairwise``, one
query group per day) instead of regressing the rank. A ranking booster's raw output has no fixed scale,
so each is standardised by its spread on the training rows and the two are averaged, then squashed
into (0, 1) — the score stays rank-like in [0, 1] as every reader of ``score`` expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kstock.features.labels import rank_target

__all__ = ["RANK_GRADES", "RankObjective", "rank_target", "score_from_raw"]

#: Relevance grades a day's rank is cut into for the ranking objectives (LightGBM allows ≤ 31 by default).
RANK_GRADES = 20
#: Pairs XGBoost samples per row: enough to order the whole day, linear in the rows (not quadratic).
XGB_PAIRS_PER_SAMPLE = 8
#: LightGBM lambdarank looks at pairs with the top this many of each day's ~800 names.
LGB_TRUNCATION = 64


class RankObjective:
    """Daily query groups of rows ordered day by day (``days`` = each row's day index, non-decreasing)."""

    def __init__(self, days: np.ndarray) -> None:
        days = np.asarray(days)
        if days.size and np.any(np.diff(days) < 0):
            raise ValueError("rows must be ordered by day for a ranking objective")
        self.qid = days
        counts = np.bincount(days) if days.size else np.zeros(0, dtype=int)
        self.groups = counts[counts > 0]

    @staticmethod
    def grades(rank: np.ndarray) -> np.ndarray:
        """A rank in [0, 1] as an integer relevance grade 0 … RANK_GRADES-1 (higher = better return)."""
        # clipped: a rank of 0 can come out as -1e-16 (cross_sectional_rank's float arithmetic)
        return np.clip(np.floor(np.asarray(rank) * RANK_GRADES), 0, RANK_GRADES - 1).astype(np.float64)

    @staticmethod
    def lgb_params() -> dict[str, Any]:
        # linear gains: the whole day's order matters (Rank IC), not only its top few names
        return {"objective": "lambdarank", "label_gain": list(range(RANK_GRADES)),
                "lambdarank_truncation_level": LGB_TRUNCATION}

    @staticmethod
    def xgb_params() -> dict[str, Any]:
        return {"objective": "rank:pairwise", "lambdarank_pair_method": "mean",
                "lambdarank_num_pair_per_sample": XGB_PAIRS_PER_SAMPLE}

    @staticmethod
    def scales(raw: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
        """(mean, std) of each library's raw ranking output on the training rows."""
        return {k: (float(np.mean(v)), float(np.std(v)) or 1.0) for k, v in raw.items()}


def score_from_raw(raw: dict[str, np.ndarray], scale: dict[str, tuple[float, float]]) -> np.ndarray:
    """The score from the two score boosters' raw outputs: their mean (rank regressions, already in
    [0, 1]), or — with ``scale`` from a ranking fit — the logistic of their mean standardised output."""
    if not scale:
        return 0.5 * (raw["lgb_rank"] + raw["xgb_rank"])
    z = 0.5 * sum((raw[k] - scale[k][0]) / scale[k][1] for k in ("lgb_rank", "xgb_rank"))
    return 1.0 / (1.0 + np.exp(-z))
