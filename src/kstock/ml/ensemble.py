"""The ensemble: one probability, one score and one label from whichever members are available.

Each member contributes its *real* outputs (never one reconstructed from another). A missing member
is ``None`` and its weight is spread over the others — a genuine output of 0.505 is a prediction, not
a missing model. Weights are chosen on validation folds and stored in the registry
(``ensemble/<version>/meta.json``); equal weights are the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kstock.ml.predictor import MemberOutput

DEFAULT_WEIGHTS: dict[str, float] = {"trees": 1.0, "lstm": 1.0, "sector": 1.0}


def combine(members: Mapping[str, MemberOutput | None], weights: Mapping[str, float] | None = None) -> MemberOutput:
    """Weighted average of the available members' probability and score, elementwise.

    Members' scores live on different scales (a rank regression in [0, 1], P(BUY) − P(SELL) in
    [−1, 1]), so each is first turned into its daily cross-sectional percentile (axis 0 = tickers,
    one column per day); the ensemble score is then itself a rank-like number in [0, 1]. Where a
    member has NaN for a ticker (it could not predict it) the others carry that ticker.
    """
    weights = dict(weights or DEFAULT_WEIGHTS)
    present = {name: out for name, out in members.items() if out is not None and weights.get(name, 0.0) > 0}
    if not present:
        raise ValueError("no ensemble member is available")
    shape = next(iter(present.values())).score.shape
    return MemberOutput(
        probability=_weighted([(o.probability, weights[n]) for n, o in present.items()], shape),
        score=_weighted([(daily_percentile(o.score), weights[n]) for n, o in present.items()], shape),
    )


def _weighted(parts: list[tuple[np.ndarray, float]], shape: tuple[int, ...]) -> np.ndarray:
    total = np.zeros(shape)
    weight = np.zeros(shape)
    for values, w in parts:
        ok = np.isfinite(values)
        total[ok] += w * values[ok]
        weight[ok] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def daily_percentile(score: np.ndarray) -> np.ndarray:
    """Each column's values as percentiles in [0, 1] (NaN kept); a lone value maps to 0.5."""
    from kstock.features.labels import cross_sectional_rank

    return cross_sectional_rank(np.asarray(score, dtype=float))
