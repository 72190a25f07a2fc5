"""The ensemble: one probability, one score and one label from whichever members are available.

Each member contributes its *real* outputs (never one reconstructed from another). A missing member
is ``None`` and its weight is spread over the others — a genuine output of 0.505 is a prediction, not
a missing model. Weights are chosen on validation folds and stored in the registry
(``ensemble/<version>/meta.json``); each kind's weight in the kinds table (:mod:`kstock.ml.models`) is the
fallback.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from kstock.ml.base import MemberOutput
from kstock.ml.evaluation.calibration import round_trip_returns
from kstock.ml.models import default_weights

#: Served until a store's own `kstock evaluate --model ensemble` stores weights; written in the kinds table
#: (``Kind.weight``), this is the seed's name for them at import. Chosen on the Rank IC from the next open, the
#: fold rule gives trees 0.8 / LSTM 0.2 on both real data sets (kospi_2020_2026, four folds 2022-01 … 2026-05,
#: and market_2023_2025; docs/models.md, "Do the deep members earn their weight?"); every weight it gave the
#: sector model (0.1–0.4) lowered the ensemble's Rank IC, so it weighs 0 — it still answers when no other
#: member can (see ``combine``).
DEFAULT_WEIGHTS: dict[str, float] = default_weights()


def combine(members: Mapping[str, MemberOutput | None], weights: Mapping[str, float] | None = None) -> MemberOutput:
    """Weighted average of the available members' probability and score, elementwise.

    Members' scores live on different scales (a rank regression in [0, 1], P(BUY) − P(SELL) in
    [−1, 1]), so each is first turned into its daily cross-sectional percentile (axis 0 = tickers,
    one column per day); the ensemble score is then itself a rank-like number in [0, 1]. Where a
    member has NaN for a ticker (it could not predict it) the others carry that ticker. When only
    members weighted 0 are available they share equal weights: a lone model still answers.
    """
    weights = dict(weights or default_weights())
    available = {name: out for name, out in members.items() if out is not None}
    present = {name: out for name, out in available.items() if weights.get(name, 0.0) > 0}
    if not present and available:
        present, weights = available, dict.fromkeys(available, 1.0)
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


# -- weights chosen on validation folds ------------------------------------------------------------
def weight_grid(names: list[str], step: float = 0.1) -> list[dict[str, float]]:
    """Every non-negative weight vector on the simplex with the given step (sums to 1)."""
    units = round(1 / step)
    if not names:
        return []
    if len(names) == 1:
        return [{names[0]: 1.0}]

    def parts(n: int, total: int) -> list[tuple[int, ...]]:
        if n == 1:
            return [(total,)]
        return [(k, *rest) for k in range(total + 1) for rest in parts(n - 1, total - k)]

    return [{name: k / units for name, k in zip(names, combo, strict=True)} for combo in parts(len(names), units)]


def _daily_rank_ics(
    percentiles: dict[str, np.ndarray], weights: Mapping[str, float], target: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """Per-day Rank IC (over ``days``) of the ensemble score ``combine`` would produce with ``weights``."""
    from kstock.ml.evaluation.metrics import daily_rank_ic

    shape = target[:, days].shape
    score = _weighted([(p[:, days], weights[n]) for n, p in percentiles.items() if weights.get(n, 0) > 0], shape)
    return daily_rank_ic(score, target[:, days])


def _search(
    percentiles: dict[str, np.ndarray], target: np.ndarray, test_days: np.ndarray, blocks: list[np.ndarray],
    step: float, prior: Mapping[str, float] | None = None,
) -> list[tuple[dict[str, float], float]]:
    """For each block of day positions (into ``test_days``): the weights to use, chosen by the one-standard-error
    rule.

    The grid point with the best mean daily Rank IC is the natural pick, but on a year of days many points are
    within noise of it, and the best of many noisy means is biased upward (it chose trees 0.5 / LSTM 0.5 on the
    kospi warm-up fold, which cost 0.008 Rank IC on the next). So every point whose mean is within one standard
    error of the best — the error of its daily *difference* from the best, where the noise the blends share
    cancels — is as good, and among those the one closest to ``prior`` wins: the kinds table's weights, chosen
    on other data (:func:`prior_weights`). The daily ICs of every grid point are computed once over all test
    days; each block's choice is a mean over its own days.
    """
    names = sorted(percentiles)
    grid = weight_grid(names, step)
    ics = np.array([_daily_rank_ics(percentiles, w, target, test_days) for w in grid])  # (grid, days)
    anchor = prior_weights(names, prior)
    spread = np.array([sum((w[n] - anchor[n]) ** 2 for n in names) for w in grid])
    out = []
    for block in blocks:
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            daily = ics[:, block] if len(block) else np.full((len(grid), 0), np.nan)
            means = np.nanmean(daily, axis=1)
            if not np.isfinite(means).any():
                out.append((anchor, float("nan")))
                continue
            best = int(np.nanargmax(means))
            behind = daily[best] - daily  # (grid, days): how far each point is behind the best, day by day
            error = np.nanstd(behind, axis=1, ddof=1) / np.sqrt(np.isfinite(behind).sum(axis=1))
        candidates = np.flatnonzero(means >= means[best] - np.nan_to_num(error))
        pick = candidates[np.argmin(spread[candidates])]
        out.append((grid[pick], float(means[pick])))
    return out


def prior_weights(names: list[str], prior: Mapping[str, float] | None = None) -> dict[str, float]:
    """``prior`` (default: the kinds table's weights) over ``names``, summing to 1; equal weights when those
    give every name 0 (or name none of them)."""
    table = default_weights() if prior is None else prior
    raw = {n: max(0.0, float(table.get(n, 0.0))) for n in names}
    total = sum(raw.values())
    return {n: v / total for n, v in raw.items()} if total > 0 else {n: 1 / len(names) for n in names}


def _prepare(oos_by_member: Mapping[str, Any], data: Any, folds: list[Any]) -> tuple[dict, np.ndarray, np.ndarray]:
    present = {n: o for n, o in oos_by_member.items() if o is not None}
    if not present:
        raise ValueError("no ensemble member is available")
    n_days = len(data.dates)
    test = np.zeros(n_days, dtype=bool)
    for fold in folds:
        test[fold.test_start : fold.test_end + 1] = True
    samples = data.sample_mask(test)
    # what a follower captures: bought at the next open, sold at the open `horizon` days later (the ledger's
    # statistic); the close-to-close return would favour members that know the day t → t+1 move nobody can trade
    target = np.where(samples, round_trip_returns(data.panel, int(data.labels.horizon)), np.nan)
    # percentiles over every scored ticker, as combine() sees them at serving time; the target masks samples
    percentiles = {n: daily_percentile(o.score) for n, o in present.items()}
    return percentiles, target, np.flatnonzero(test)


def choose_weights(
    oos_by_member: Mapping[str, Any], data: Any, folds: list[Any], step: float = 0.1,
    prior: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Non-negative weights (sum 1) maximising the mean daily Rank IC of the combined score on ``folds``, against
    the return from the next open (what a follower of the book captures).

    ``oos_by_member`` maps a member to its walk-forward ``OutOfSample`` (``None`` = unavailable, left out).
    The score is combined exactly as :func:`combine` does (daily percentiles, weighted), over a simplex
    grid of ``step``. Pass only folds whose predictions are *not* being scored with these weights: to
    serve, all evaluated folds; inside an evaluation, the folds before the one being scored
    (:func:`fold_weights`). One weight vector serves both the score and the probability; ``prior`` is what the
    one-standard-error rule leans to (:func:`_search`; default: the kinds table's weights).
    """
    percentiles, target, test_days = _prepare(oos_by_member, data, folds)
    return _search(percentiles, target, test_days, [np.arange(len(test_days))], step, prior)[0][0]


def fold_weights(
    oos_by_member: Mapping[str, Any], data: Any, folds: list[Any], step: float = 0.1,
    prior: Mapping[str, float] | None = None,
) -> list[dict[str, float]]:
    """Weights for each fold chosen on the *earlier* folds only — nested, no peeking. Fold 0, with no earlier
    fold, gets ``prior`` (default: the kinds table's weights, chosen on other data; equal weights when they give
    every member 0)."""
    percentiles, target, test_days = _prepare(oos_by_member, data, folds)
    names = sorted(percentiles)
    position = {int(d): i for i, d in enumerate(test_days)}
    blocks = []
    for k in range(1, len(folds)):
        earlier = [position[d] for f in folds[:k] for d in range(f.test_start, f.test_end + 1)]
        blocks.append(np.array(earlier, dtype=int))
    chosen = [w for w, _ in _search(percentiles, target, test_days, blocks, step, prior)] if blocks else []
    return [prior_weights(names, prior), *chosen]


def ensemble_out_of_sample(
    oos_by_member: Mapping[str, Any], data: Any, folds: list[Any], step: float = 0.1, warmup: Any = None,
    prior: Mapping[str, float] | None = None,
) -> tuple[Any, dict[str, float]]:
    """The ensemble's walk-forward predictions and the weights to serve.

    Fold k's test block is combined with weights chosen on folds 0 … k-1, so the ensemble's score on
    every fold is as out-of-sample as its members'. Fold 0 is weighed on ``warmup`` — a fold before it
    whose out-of-sample predictions the members also hold (:func:`~kstock.ml.evaluation.folds.warmup_fold`)
    — or, without one, with ``prior`` (:func:`fold_weights`). The returned weights are chosen on every fold (warm-up
    included): they are what ``kstock evaluate --model ensemble`` stores for serving.
    """
    from kstock.ml.evaluation.walkforward import OutOfSample

    present = {n: o for n, o in oos_by_member.items() if o is not None}
    if warmup is not None:
        per_fold = fold_weights(present, data, [warmup, *folds], step, prior)[1:]
        folds_for_serving = [warmup, *folds]
    else:
        per_fold = fold_weights(present, data, folds, step, prior)
        folds_for_serving = list(folds)
    shape = next(iter(present.values())).score.shape
    out = OutOfSample.empty(shape)
    for fold, weights in zip(folds, per_fold, strict=True):
        days = np.arange(fold.test_start, fold.test_end + 1)
        members = {n: MemberOutput(o.probability[:, days], o.score[:, days]) for n, o in present.items()}
        combined = combine(members, weights)
        out.probability[:, days] = combined.probability
        out.score[:, days] = combined.score
    return out, choose_weights(present, data, folds_for_serving, step, prior)
