"""Labels: what happened in the five trading days after day t (DESIGN §3, §4).

All three labels come from the same forward return, close t → close t+h. A sample is dropped (NaN)
when its window runs past the data, through a halt, or across a move beyond the price limit (an
unadjusted split or a data fault is not a return).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kstock.features.tabular import bad_moves
from kstock.market.types import Panel

SELL, HOLD, BUY = 0, 1, 2
CLASS_NAMES = ("SELL", "HOLD", "BUY")


@dataclass
class Labels:
    """Per (ticker, day) arrays of shape (n_tickers, n_days); NaN where the sample is dropped."""

    forward_return: np.ndarray  # close t → close t+h
    tradeable_return: np.ndarray  # close t+1 → close t+1+h: what a subscriber who acts next day can capture
    up: np.ndarray  # 1.0 if forward_return > target, else 0.0
    rank: np.ndarray  # daily cross-sectional percentile rank of forward_return in [0, 1]
    three_class: np.ndarray  # SELL / HOLD / BUY by the thresholds
    horizon: int

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.forward_return)


def forward_returns(panel: Panel, horizon: int, offset: int = 0) -> np.ndarray:
    """close[t+offset] → close[t+offset+horizon], NaN when any day in between did not trade or was faulty."""
    close = np.asarray(panel.close, dtype=np.float64)  # a float32 (serving) panel labels as a float64 one
    n, t = close.shape
    out = np.full((n, t), np.nan)
    start, end = offset, offset + horizon
    if t <= end:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, : t - end] = close[:, end:] / close[:, start : t - horizon] - 1.0
    blocked = ~panel.traded | bad_moves(panel)
    # a window (t+start, t+end] is blocked if any day in it is blocked (or the start day did not trade)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(blocked, axis=1)], axis=1)
    hit = np.zeros((n, t), dtype=bool)
    hit[:, : t - end] = (cum[:, end + 1 : t + 1] - cum[:, start + 1 : t - horizon + 1]) > 0
    hit |= ~np.pad(panel.traded[:, start:], ((0, 0), (0, start)), constant_values=False)
    out[hit] = np.nan
    return out


def cross_sectional_rank(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Percentile rank in [0, 1] of each ticker within its day (NaN stays NaN)."""
    x = values if mask is None else np.where(mask, values, np.nan)
    ranks = pd.DataFrame(x).rank(axis=0, pct=True, method="average").to_numpy()
    counts = np.sum(~np.isnan(x), axis=0)
    # map (0, 1] percentiles onto [0, 1] so the median sits at 0.5 whatever the day's count
    return np.where(counts > 1, (ranks * counts - 1) / np.maximum(counts - 1, 1), np.where(np.isnan(x), np.nan, 0.5))


def build_labels(
    panel: Panel,
    horizon: int = 5,
    target: float = 0.03,
    buy_threshold: float = 0.03,
    sell_threshold: float = -0.03,
    universe: np.ndarray | None = None,
) -> Labels:
    """All labels; ``universe`` (bool per ticker) limits who is ranked against whom (common stocks)."""
    fwd = forward_returns(panel, horizon)
    tradeable = forward_returns(panel, horizon, offset=1)
    if universe is not None:
        fwd[~universe] = np.nan
        tradeable[~universe] = np.nan
    up = np.where(np.isnan(fwd), np.nan, (fwd > target).astype(float))
    classes = np.where(fwd >= buy_threshold, BUY, np.where(fwd <= sell_threshold, SELL, HOLD))
    three = np.where(np.isnan(fwd), np.nan, classes)
    return Labels(forward_return=fwd, tradeable_return=tradeable, up=up, rank=cross_sectional_rank(fwd),
                  three_class=three.astype(float), horizon=horizon)


def rank_target(labels: Labels, label: str) -> np.ndarray:
    """(tickers × days) the daily rank a score model learns: of the close-to-close 5-day return (``close``), or
    of the return from the next day's close (``tradeable``: what a follower of the push can still capture;
    NaN where that window is not whole). The trees and the LSTM read their target through here."""
    if label == "tradeable":
        return cross_sectional_rank(labels.tradeable_return)
    return labels.rank
