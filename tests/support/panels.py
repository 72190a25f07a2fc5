"""Small hand-made panels (tickers × days) for the feature, label, tradability and book tests."""

from __future__ import annotations

import numpy as np

from kstock.market.types import CLOSE, HIGH, LOW, OPEN, VOLUME, Panel


def make_panel(close: np.ndarray, start: str = "2024-01-02", volume: float = 1000.0,
               sectors: np.ndarray | None = None) -> Panel:
    """Tickers × days from closes (NaN = did not trade); high/low ±1 %, open = close."""
    close = np.atleast_2d(np.asarray(close, dtype=float))
    n, t = close.shape
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(t), roll="forward")
    ohlcv = np.empty((n, t, 5))
    ohlcv[:, :, OPEN] = close
    ohlcv[:, :, HIGH] = close * 1.01
    ohlcv[:, :, LOW] = close * 0.99
    ohlcv[:, :, CLOSE] = close
    ohlcv[:, :, VOLUME] = np.where(np.isnan(close), np.nan, volume)
    halted = np.isnan(close)
    return Panel([f"{i:06d}" for i in range(n)], dates, ohlcv, halted,
                 np.full(n, -1, dtype=np.int64) if sectors is None else sectors)


def panel(closes: np.ndarray, volume: float | np.ndarray = 1e6, opens: np.ndarray | None = None) -> Panel:
    """Tickers × days from closes (NaN = halted), daily dates from 2025-01-01; high/low span open and close."""
    closes = np.asarray(closes, dtype=float)
    n, t = closes.shape
    ohlcv = np.zeros((n, t, 5))
    ohlcv[:, :, 0] = closes if opens is None else opens
    ohlcv[:, :, 1] = np.fmax(closes, ohlcv[:, :, 0])
    ohlcv[:, :, 2] = np.fmin(closes, ohlcv[:, :, 0])
    ohlcv[:, :, 3] = closes
    ohlcv[:, :, 4] = volume
    ohlcv[np.isnan(closes)] = np.nan
    dates = np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-01-01") + t)
    return Panel([f"{i:06d}" for i in range(n)], dates, ohlcv, np.isnan(closes))


def changed_after(panel: Panel, market: np.ndarray, t: int) -> tuple[Panel, np.ndarray]:
    """The same market with every field of every ticker after day ``t`` (and the index) changed: new prices,
    new halts, a split-like jump. Features of days ≤ t must not move (the no-look-ahead tests)."""
    rng = np.random.default_rng(t)
    ohlcv = panel.ohlcv.copy()
    ohlcv[:, t + 1:] *= rng.uniform(0.5, 1.6, size=ohlcv[:, t + 1:].shape)
    ohlcv[::3, t + 1: t + 4] = np.nan  # new halts after t
    ohlcv[1, t + 2, CLOSE] *= 3  # a split-like jump after t
    market2 = market.copy()
    market2[t + 1:] *= rng.uniform(0.8, 1.2, size=len(market) - t - 1)
    return Panel(panel.codes, panel.dates, ohlcv, panel.halted, panel.sector_ids), market2
