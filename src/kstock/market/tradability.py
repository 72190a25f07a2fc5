"""What a subscriber can actually buy — one definition for the backtest, the scoring and the ledger (DESIGN §7).

Two halves, split by what is known when:

* :func:`buyable_at_close` — known at day t's close, when the scoring runs: a common stock (the
  universe mask: not an ETF/ETN, preferred share, SPAC, REIT or fund), listed long enough for the
  features (:data:`MIN_LISTED_DAYS` traded days), traded on t (not halted), and liquid — its 20-day
  average traded value (close × volume over the traded days of the last 20) at least
  ``min_traded_value``. The served BUY list is the top of this set.
* :class:`Execution` — known only at the open of t+1, when the subscriber trades: the name has an
  open (not halted) and does not open at its upper price limit (no sellers there). The backtest skips
  such names the same way the ledger records them as "not bought".

The backtest's candidates on decision day t are ``buyable_at_close & opens_next & ~limit_up_next``, so
the book we measured and the book we push differ only in what nobody can know at the close.

A move beyond the price limit (:func:`bad_moves`) is an unadjusted split or a data fault, not a return
(DESIGN §4): the labels drop it, and the prices a held name is valued at (:attr:`Execution.open_ff`) step
over it — on the real KOSPI files a reverse split during a halt otherwise books a held name at +1,500 %
in one day and one such day decides a whole backtest's CAGR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kstock.market.krx import PRICE_LIMIT, PRICE_LIMIT_CHANGE, PRICE_LIMIT_OLD, sell_tax_array
from kstock.market.types import CLOSE, OPEN, VOLUME, Panel

LIQUIDITY_WINDOW = 20
#: Traded days a name needs before it can be bought: the 60-day features (returns, volatility, MA gap,
#: 52-week range) need that much history, and a model's view of a fresh listing is mostly missing data.
MIN_LISTED_DAYS = 60
#: An open within this fraction below the limit counts as limit-up: the limit price is rounded
#: down to a tick, so the exact ratio lands a little under 30 %.
LIMIT_TOLERANCE = 0.005


def ffill_days(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along the day axis (leading NaN stay NaN)."""
    idx = np.where(np.isnan(a), 0, np.arange(a.shape[1]))
    np.maximum.accumulate(idx, axis=1, out=idx)
    return a[np.arange(a.shape[0])[:, None], idx]


def daily_limit(dates: np.ndarray) -> np.ndarray:
    """The KRX daily price limit in force on each day (±15 % before 2015-06-15, ±30 % after)."""
    change = np.datetime64(PRICE_LIMIT_CHANGE, "D")
    return np.where(np.asarray(dates, dtype="datetime64[D]") >= change, PRICE_LIMIT, PRICE_LIMIT_OLD)


def bad_moves(panel: Panel) -> np.ndarray:
    """(N, T) days whose close-to-close move (halts carried) exceeds the price limit in force that day:
    an unadjusted split or a data fault, not a return (DESIGN §4)."""
    close = ffill_days(np.asarray(panel.close, dtype=np.float64))
    out = np.zeros(close.shape, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        move = close[:, 1:] / close[:, :-1] - 1.0
    out[:, 1:] = np.abs(np.nan_to_num(move)) > daily_limit(panel.dates)[1:] + LIMIT_TOLERANCE
    return out


def step_over_breaks(prices: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Carried-forward prices rescaled so that the step into a ``breaks`` day is flat (no return).

    Each day's price is divided by the product of the jumps of the breaks up to that day, so ratios
    between any two days are the true ones except that a break contributes nothing. Only earlier breaks
    move a day's price: the series as known on a day never changes later (no look-ahead).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        step = prices[:, 1:] / prices[:, :-1]
    jump = np.where(breaks[:, 1:] & np.isfinite(step) & (step > 0), step, 1.0)
    scale = np.concatenate([np.ones((prices.shape[0], 1)), np.cumprod(jump, axis=1)], axis=1)
    return prices / scale


def shift_left(a: np.ndarray, by: int, fill: float | bool) -> np.ndarray:
    """out[:, t] = a[:, t + by]; the last ``by`` days get ``fill`` (all of them when ``by`` ≥ the days held)."""
    out = np.full_like(a, fill)
    if by < a.shape[1]:
        out[:, : a.shape[1] - by] = a[:, by:]
    return out


def traded_value_20d(panel: Panel) -> np.ndarray:
    """(N, T) 20-day average traded value in KRW as known on each day's close (NaN before any trade)."""
    traded_value = panel.ohlcv[:, :, CLOSE] * panel.ohlcv[:, :, VOLUME]
    return pd.DataFrame(traded_value.T).rolling(LIQUIDITY_WINDOW, min_periods=1).mean().to_numpy().T


def listed_days(panel: Panel) -> np.ndarray:
    """(N, T) number of traded days up to and including each day."""
    return np.cumsum(panel.traded, axis=1)


def buyable_at_close(
    panel: Panel, universe: np.ndarray, min_traded_value: float, min_listed_days: int = MIN_LISTED_DAYS
) -> np.ndarray:
    """(N, T) bool: what may enter the book decided at day t's close (see the module docstring).

    ``universe`` is the (N,) or (N, T) mask of common stocks (``ModelData.universe``).
    """
    mask = np.asarray(universe, dtype=bool)
    n_tickers, n_days = panel.ohlcv.shape[:2]
    mask = np.broadcast_to(mask[:, None] if mask.ndim == 1 else mask, (n_tickers, n_days))
    liquid = np.nan_to_num(traded_value_20d(panel), nan=-np.inf) >= min_traded_value
    return mask & panel.traded & liquid & (listed_days(panel) >= min_listed_days)


@dataclass
class Execution:
    """Per (ticker, decision day t) facts about trading at the open of t+1, all vectorised."""

    opens_next: np.ndarray  # has an open on t+1
    limit_up_next: np.ndarray  # opens at the upper limit on t+1: cannot be bought
    alive_next: np.ndarray  # trades on t+1 or on some later day of the panel
    ret_next: np.ndarray  # open t+1 → open t+2, halts carried, breaks stepped over (NaN before any price)
    tax_next: np.ndarray  # (T,) sell tax in force on t+1
    open_ff: np.ndarray  # opens carried over halts and rescaled over breaks (the price a held name is valued at)

    @property
    def enterable(self) -> np.ndarray:
        """(N, T) a buy decided on t can be filled at t+1's open."""
        return self.opens_next & ~self.limit_up_next


def execution(panel: Panel) -> Execution:
    """What happens at the next open for every (ticker, day) of the panel."""
    o = panel.ohlcv[:, :, OPEN]
    has_open = np.isfinite(o) & (o > 0)
    open_ff = step_over_breaks(ffill_days(np.where(has_open, o, np.nan)), bad_moves(panel))
    close_ff = ffill_days(panel.ohlcv[:, :, CLOSE])
    n_days = len(panel.dates)
    next_dates = np.concatenate([panel.dates[1:], panel.dates[-1:]]).astype("datetime64[D]")
    limit = daily_limit(next_dates)
    open_next = shift_left(np.where(has_open, o, np.nan), 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        limit_up = open_next / close_ff - 1.0 >= limit - LIMIT_TOLERANCE
        ret = shift_left(open_ff, 2, np.nan) / shift_left(open_ff, 1, np.nan) - 1.0
    future_opens = np.flip(np.cumsum(np.flip(has_open, axis=1), axis=1), axis=1) > 0
    return Execution(
        opens_next=shift_left(has_open, 1, False),
        limit_up_next=limit_up,
        alive_next=shift_left(future_opens, 1, False),
        ret_next=ret,
        tax_next=sell_tax_array(next_dates) if n_days else np.empty(0),
        open_ff=open_ff,
    )
