"""Cross-sectional and classification metrics for (n_tickers, n_days) arrays, NaN = no sample.

A stock-ranking model is used one day at a time: on each day it orders the names it can score. So
the correlation metrics are computed *within* each day across tickers (never pooled over days, where
a market-wide move would pass for skill) and then summarised over days. Every function takes the
valid pairs only — a NaN in either input drops that (ticker, day) — because labels are missing
around halts and at the end of the data, and a score of a missing label is no evidence either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HOLD_CLASS = 1


def _joint(score: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both arrays as float with NaN wherever either is missing, plus the validity mask."""
    s = np.asarray(score, dtype=float)
    y = np.asarray(target, dtype=float)
    if s.shape != y.shape:
        raise ValueError(f"shape mismatch: score {s.shape} vs target {y.shape}")
    valid = ~np.isnan(s) & ~np.isnan(y)
    return np.where(valid, s, np.nan), np.where(valid, y, np.nan), valid


def _columnwise_pearson(x: np.ndarray, y: np.ndarray, valid: np.ndarray, min_names: int) -> np.ndarray:
    """Pearson correlation of each column (day) over its valid rows, all days at once."""
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - np.nansum(x, axis=0) / n
        dy = y - np.nansum(y, axis=0) / n
        cov = np.nansum(dx * dy, axis=0)
        var = np.nansum(dx * dx, axis=0) * np.nansum(dy * dy, axis=0)
        ic = cov / np.sqrt(var)
    # a day with a constant score or target has no ordering to measure: NaN, not 0
    ic[(n < min_names) | ~(var > 0)] = np.nan
    return np.clip(ic, -1.0, 1.0)


def daily_ic(score: np.ndarray, target: np.ndarray, min_names: int = 5) -> np.ndarray:
    """Per-day Pearson correlation between score and target across tickers (NaN if < min_names pairs)."""
    x, y, valid = _joint(score, target)
    return _columnwise_pearson(x, y, valid, min_names)


def daily_rank_ic(score: np.ndarray, target: np.ndarray, min_names: int = 5) -> np.ndarray:
    """Per-day Spearman correlation: ranks within each day (ties averaged), then Pearson on the ranks.

    Ranks are taken over the *joint* valid pairs only, so a name with a score but no label does not
    shift the ranks of the others. Rank IC is the headline number because it ignores the scale of
    the score and is not dominated by one extreme return.
    """
    x, y, valid = _joint(score, target)
    rx = pd.DataFrame(x).rank(axis=0, method="average").to_numpy()
    ry = pd.DataFrame(y).rank(axis=0, method="average").to_numpy()
    return _columnwise_pearson(rx, ry, valid, min_names)


def ic_summary(ics: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation (ddof=1) and IR = mean / std of the daily ICs, NaN days ignored.

    The IR is per day and *not* annualised (multiply by √252 for an annual figure): the evaluator
    compares models on the same folds, where the unscaled ratio is the honest, unit-free number.
    """
    v = np.asarray(ics, dtype=float)
    v = v[~np.isnan(v)]
    days = int(v.size)
    mean = float(v.mean()) if days else float("nan")
    std = float(v.std(ddof=1)) if days > 1 else float("nan")
    ir = mean / std if days > 1 and std > 0 else float("nan")
    return {"mean": mean, "std": std, "ir": ir, "days": days}


def top_decile_hit_rate(score: np.ndarray, forward_return: np.ndarray, min_names: int = 10) -> float:
    """Share of top-decile picks whose forward return beats their day's cross-sectional median.

    Each day the top ⌈n/10⌉ of the n valid names by score are the picks (ties broken by row order);
    a pick hits when its return is strictly above that day's median of all n valid returns. Picks
    are pooled over days, so 0.5 is what a random ranking scores. Days with fewer than ``min_names``
    valid names are skipped: a "decile" of three names says nothing.
    """
    x, y, valid = _joint(score, forward_return)
    n = valid.sum(axis=0)
    used = n >= min_names
    if not used.any():
        return float("nan")
    rank_desc = pd.DataFrame(-x).rank(axis=0, method="first").to_numpy()
    top = valid & (rank_desc <= np.ceil(n / 10.0)) & used
    with np.errstate(invalid="ignore"):
        median = np.nanmedian(np.where(used, y, 0.0), axis=0)
        hits = top & (y > median)
    return float(hits.sum() / top.sum())


def binary_metrics(probability: np.ndarray, up: np.ndarray) -> dict[str, float]:
    """AUC, accuracy at 0.5, positive rate (share of true ups: the base rate accuracy must beat), n.

    AUC is NaN when the valid labels hold a single class, where it is undefined.
    """
    p, y, valid = _joint(np.ravel(probability), np.ravel(up))
    p, y = p[valid], y[valid] > 0.5
    n = int(y.size)
    if n == 0:
        return {"auc": float("nan"), "accuracy": float("nan"), "positive_rate": float("nan"), "n": 0}
    from sklearn.metrics import roc_auc_score  # imported when used: sklearn costs a cold `analyze` ~1 s

    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < n else float("nan")
    return {
        "auc": auc,
        "accuracy": float(np.mean((p >= 0.5) == y)),
        "positive_rate": float(y.mean()),
        "n": n,
    }


def multiclass_metrics(pred_class: np.ndarray, true_class: np.ndarray, n_classes: int = 3) -> dict:
    """Accuracy, macro-F1 and per-class accuracy (recall) beside the HOLD-majority baseline.

    Three-class labels are dominated by HOLD, so a model that always says HOLD already scores a high
    accuracy; it is the macro-F1 *above the baseline's* that shows whether SELL and BUY are learnt.
    The baseline predicts class 1 (HOLD) everywhere. Per-class accuracy is NaN for a class absent
    from the true labels.
    """
    from sklearn.metrics import f1_score

    p, y, valid = _joint(np.ravel(pred_class), np.ravel(true_class))
    p, y = p[valid].astype(int), y[valid].astype(int)
    labels = list(range(n_classes))
    hold = np.full_like(y, HOLD_CLASS)
    if y.size == 0:
        nan = float("nan")
        return {
            "accuracy": nan,
            "macro_f1": nan,
            "per_class_accuracy": [nan] * n_classes,
            "hold_baseline_macro_f1": nan,
            "hold_baseline_accuracy": nan,
            "n": 0,
        }
    per_class = [float(np.mean(p[y == c] == c)) if np.any(y == c) else float("nan") for c in labels]
    return {
        "accuracy": float(np.mean(p == y)),
        "macro_f1": float(f1_score(y, p, average="macro", labels=labels, zero_division=0)),
        "per_class_accuracy": per_class,
        "hold_baseline_macro_f1": float(f1_score(y, hold, average="macro", labels=labels, zero_division=0)),
        "hold_baseline_accuracy": float(np.mean(y == HOLD_CLASS)),
        "n": int(y.size),
    }
