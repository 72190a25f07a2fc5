"""Facts of the Korea Exchange that labels, backtests and the synthetic market rely on (DESIGN §2)."""

from __future__ import annotations

import datetime as dt

import numpy as np

#: Daily price limit as a fraction of the previous close; ±15 % before 2015-06-15.
PRICE_LIMIT = 0.30
PRICE_LIMIT_OLD = 0.15
PRICE_LIMIT_CHANGE = dt.date(2015, 6, 15)

#: Online brokerage commission, per side (about 0.015 %).
COMMISSION = 0.00015

_TICK_BANDS = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000], dtype=float)
_TICK_SIZES = np.array([1, 5, 10, 50, 100, 500, 1_000], dtype=float)

# Sell-side transaction tax (incl. the rural special tax on KOSPI), by the first day it applied.
_SELL_TAX: tuple[tuple[dt.date, float], ...] = (
    (dt.date(1900, 1, 1), 0.0030),
    (dt.date(2019, 6, 3), 0.0025),
    (dt.date(2021, 1, 1), 0.0023),
    (dt.date(2023, 1, 1), 0.0020),
    (dt.date(2024, 1, 1), 0.0018),
    (dt.date(2025, 1, 1), 0.0015),
    (dt.date(2026, 1, 1), 0.0020),
)


def tick_size(price: float | np.ndarray) -> np.ndarray:
    """KRX tick size in KRW for a price (vectorised)."""
    return _TICK_SIZES[np.searchsorted(_TICK_BANDS, np.asarray(price, dtype=float), side="right")]


def round_to_tick(price: float | np.ndarray) -> np.ndarray:
    """Round a price to the nearest valid tick (at least one tick)."""
    p = np.asarray(price, dtype=float)
    t = tick_size(p)
    return np.maximum(np.round(p / t) * t, t)


def sell_tax(day: dt.date | np.datetime64 | str) -> float:
    """The sell-side tax rate in force on ``day``."""
    d = np.datetime64(day, "D").astype(dt.date)
    rate = _SELL_TAX[0][1]
    for start, r in _SELL_TAX:
        if d >= start:
            rate = r
    return rate


def sell_tax_array(days: np.ndarray) -> np.ndarray:
    """Sell tax for an array of datetime64 days."""
    starts = np.array([np.datetime64(s, "D") for s, _ in _SELL_TAX])
    rates = np.array([r for _, r in _SELL_TAX])
    return rates[np.searchsorted(starts, days.astype("datetime64[D]"), side="right") - 1]

