"""The market series the features and the chart compare against: the index, never forward-filled flat.

An index series often lags the prices (the KOSPI file of ``../shared`` ends 2026-03-20, the prices run to
2026-05-29). Forward-filling it would show the models a flat market for every later session and draw the
chart's "KOSPI 대비" line against a frozen level. Past the index's last day the level is continued by a
market return built from the stored universe instead — the traded-value-weighted mean daily return of the
common stocks, each weighted by its average traded value of the 60 sessions *before* the day (a stand-in
for market cap, which the store does not hold; no look-ahead). Where both exist it tracks KOSPI better than
the equal-weighted mean (daily correlation 0.906 against 0.837 on kospi_2020_2026, 0.980 against 0.840 over
the last year before the index ends). Days where the index exists keep exactly the index's values, so the
features the models were trained on are unchanged there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kstock.market.tradability import LIMIT_TOLERANCE, bad_moves, daily_limit
from kstock.market.types import VOLUME, Panel

#: Sessions of traded value that weigh each name in the universe's market return.
WEIGHT_DAYS = 60


def market_level(index: pd.DataFrame, panel: Panel, universe: np.ndarray) -> np.ndarray | None:
    """The market level on ``panel.dates``: the index's close (forward-filled only across a missing day inside
    its range), continued past its last day by :func:`universe_returns`; None without an index."""
    if index.empty:
        return None
    closes = index["close"]
    dates = pd.DatetimeIndex(panel.dates)
    level = closes.reindex(closes.index.union(dates)).ffill().reindex(dates).to_numpy(dtype=float)
    after = panel.dates > np.datetime64(closes.index[-1].date(), "D")
    if not after.any():
        return level
    first = int(np.argmax(after))
    returns = universe_returns(panel, universe, start=first)
    previous = level[first - 1] if first > 0 else 1.0  # no index day in the window: the level starts at 1
    for j in range(first, len(level)):
        if j > 0 and np.isfinite(returns[j]):  # NaN only where no name of the universe traded
            previous *= 1.0 + returns[j]
        level[j] = previous
    return level


def universe_returns(panel: Panel, universe: np.ndarray, start: int = 1) -> np.ndarray:
    """Each day's traded-value-weighted mean return of the universe's names from day ``start`` on (NaN before,
    and where none traded).

    A name counts on a day it traded and the day before, without a move past the price limit (an unadjusted
    split is no return); its weight is its mean traded value over the :data:`WEIGHT_DAYS` sessions before.
    Each day's weights are computed from their own sessions alone (no running sum), so the serving window and
    the whole history give the same bits.
    """
    close = np.asarray(panel.close, dtype=np.float64)
    traded = panel.traded & np.asarray(universe, dtype=bool)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.full(close.shape, np.nan)
        r[:, 1:] = close[:, 1:] / close[:, :-1] - 1
    r[~traded | bad_moves(panel)] = np.nan
    r[:, 1:][np.abs(r[:, 1:]) > daily_limit(panel.dates)[1:] + LIMIT_TOLERANCE] = np.nan
    value = np.where(traded, close * np.asarray(panel.ohlcv[:, :, VOLUME], dtype=np.float64), np.nan)
    out = np.full(close.shape[1], np.nan)
    for j in range(max(1, start), close.shape[1]):
        past = value[:, max(0, j - WEIGHT_DAYS):j]
        seen = np.isfinite(past).sum(axis=1)
        weight = np.where(seen >= 5, np.nansum(past, axis=1) / np.maximum(seen, 1), 0.0)
        weight = np.where(np.isfinite(r[:, j]), weight, 0.0)
        total = weight.sum()
        if total > 0:
            out[j] = float((np.nan_to_num(r[:, j]) * weight).sum() / total)
    return out
