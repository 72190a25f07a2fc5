"""A daily top-k long-only book, honest about what a subscriber can actually trade (DESIGN §4).

Timing. A score computed from day t's close reaches the subscriber the next morning, so the book
decided on day t is traded at the **open of t+1** and held to the open of t+2 (open-to-open). The
return reported for decision day t is that interval, net of the cost of the trades at the open of
t+1. Buying at the close the signal came from would credit the model with the overnight gap it
cannot collect; on KRX data that gap carries much of the apparent short-term reversal edge.

What cannot be traded is not traded:

* a name must be liquid — its 20-day average traded value (close × volume over the traded days of
  the last 20) at least ``min_traded_value`` — because illiquid small caps print paper returns that
  no one can collect;
* it must have an open on t+1 (not halted) and must not open at its upper price limit, where
  there are no sellers;
* a held name with no open on t+1 (halted) cannot be sold either: it stays in the book at its
  drifted weight, carries its last price, and is re-priced when it trades again. A held name that
  never trades again in the panel (delisted, end of data) is written off at its last price — the
  one place the book uses knowledge of the future, and only to avoid freezing a slot forever.

Costs. Commission on both sides plus the sell tax in force on the day of the sale (the year
matters: 0.18 % in 2024, 0.15 % in 2025). Cost is charged out of the portfolio value at the open,
before the day's return: net = (1 − cost)(1 + gross) − 1.

The baselines (KOSPI buy-and-hold, the equal-weighted eligible universe) use the same summary so
the evaluator prints them side by side, and everything can be restricted to [start, end] decision
days so walk-forward folds are scored separately and concatenated (each fold starts in cash).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kstock.market.krx import COMMISSION, PRICE_LIMIT, PRICE_LIMIT_CHANGE, PRICE_LIMIT_OLD, sell_tax_array
from kstock.market.types import CLOSE, OPEN, VOLUME, Panel

TRADING_DAYS = 252
LIQUIDITY_WINDOW = 20
#: An open within this fraction below the limit counts as limit-up: the limit price is rounded
#: down to a tick, so the exact ratio lands a little under 30 %.
LIMIT_TOLERANCE = 0.005


@dataclass
class BacktestResult:
    """Daily net returns (one per decision day) and their summary."""

    daily_returns: np.ndarray
    dates: np.ndarray  # the decision days (datetime64[D]); day t's return is open t+1 → open t+2
    cagr: float
    sharpe: float  # annualised (252 days), risk-free rate 0
    max_drawdown: float  # negative fraction, e.g. -0.23
    turnover: float  # mean daily one-sided turnover, Σ|Δw| / 2 (NaN where no book is traded)
    total_return: float
    n_days: int
    avg_names: float
    daily_turnover: np.ndarray = field(default_factory=lambda: np.empty(0))
    daily_costs: np.ndarray = field(default_factory=lambda: np.empty(0))
    daily_names: np.ndarray = field(default_factory=lambda: np.empty(0))

    def as_dict(self) -> dict[str, float]:
        return {
            "cagr": self.cagr,
            "sharpe": self.sharpe,
            "max_drawdown": self.max_drawdown,
            "turnover": self.turnover,
            "total_return": self.total_return,
        }


def summarize(daily_returns: np.ndarray, dates: np.ndarray | None = None) -> dict[str, float]:
    """CAGR, Sharpe, max drawdown and total return of a daily return series (NaN days dropped).

    Years are counted as 252 *return days*, not calendar time: concatenated walk-forward folds
    leave gaps (embargoes) that are not time the strategy was invested. ``dates``, when given, is
    only checked to line up with the returns. The drawdown is measured from the starting value 1,
    so a loss on the first day counts.
    """
    r = np.asarray(daily_returns, dtype=float)
    if dates is not None and len(dates) != len(r):
        raise ValueError(f"{len(r)} returns but {len(dates)} dates")
    r = r[~np.isnan(r)]
    nan = float("nan")
    if r.size == 0:
        return {"cagr": nan, "sharpe": nan, "max_drawdown": nan, "total_return": nan}
    equity = np.cumprod(1.0 + r)
    final = float(equity[-1])
    cagr = final ** (TRADING_DAYS / r.size) - 1.0 if final > 0 else -1.0
    std = float(r.std(ddof=1)) if r.size > 1 else 0.0
    # a series that never moves (rounding noise aside) has no Sharpe ratio, not an astronomical one
    sharpe = float(r.mean() / std * np.sqrt(TRADING_DAYS)) if std > 1e-12 else nan
    path = np.concatenate([[1.0], equity])
    drawdown = path / np.maximum.accumulate(path) - 1.0
    return {"cagr": float(cagr), "sharpe": sharpe, "max_drawdown": float(drawdown.min()), "total_return": final - 1}


def _result(
    returns: np.ndarray, dates: np.ndarray, turnover: np.ndarray, costs: np.ndarray, names: np.ndarray
) -> BacktestResult:
    s = summarize(returns, dates)
    return BacktestResult(
        daily_returns=returns,
        dates=dates,
        cagr=s["cagr"],
        sharpe=s["sharpe"],
        max_drawdown=s["max_drawdown"],
        turnover=float(turnover.mean()) if turnover.size and not np.isnan(turnover).all() else float("nan"),
        total_return=s["total_return"],
        n_days=int(returns.size),
        avg_names=float(names.mean()) if names.size else float("nan"),
        daily_turnover=turnover,
        daily_costs=costs,
        daily_names=names,
    )


def _ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along the day axis (leading NaN stay NaN)."""
    idx = np.where(np.isnan(a), 0, np.arange(a.shape[1]))
    np.maximum.accumulate(idx, axis=1, out=idx)
    return a[np.arange(a.shape[0])[:, None], idx]


def _shift_left(a: np.ndarray, by: int, fill: float | bool) -> np.ndarray:
    """out[:, t] = a[:, t + by]; the last ``by`` days get ``fill``."""
    out = np.full_like(a, fill)
    out[:, : a.shape[1] - by] = a[:, by:]
    return out


@dataclass
class _Tradability:
    """Per (ticker, decision day t) facts about trading at the open of t+1, all vectorised."""

    liquid: np.ndarray  # 20-day average traded value ≥ threshold, as known on t
    opens_next: np.ndarray  # has an open on t+1
    limit_up_next: np.ndarray  # opens at the upper limit on t+1: cannot be bought
    alive_next: np.ndarray  # trades on t+1 or on some later day of the panel
    ret_next: np.ndarray  # open t+1 → open t+2 with halts carried (NaN where there is no price yet)
    tax_next: np.ndarray  # (T,) sell tax in force on t+1


def _tradability(panel: Panel, min_traded_value: float) -> _Tradability:
    o = panel.ohlcv[:, :, OPEN]
    has_open = np.isfinite(o) & (o > 0)
    open_ff = _ffill(np.where(has_open, o, np.nan))
    close_ff = _ffill(panel.ohlcv[:, :, CLOSE])
    traded_value = panel.ohlcv[:, :, CLOSE] * panel.ohlcv[:, :, VOLUME]
    adv = pd.DataFrame(traded_value.T).rolling(LIQUIDITY_WINDOW, min_periods=1).mean().to_numpy().T

    n_days = len(panel.dates)
    next_dates = np.concatenate([panel.dates[1:], panel.dates[-1:]]).astype("datetime64[D]")
    limit = np.where(next_dates >= np.datetime64(PRICE_LIMIT_CHANGE, "D"), PRICE_LIMIT, PRICE_LIMIT_OLD)
    open_next = _shift_left(np.where(has_open, o, np.nan), 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        limit_up = open_next / close_ff - 1.0 >= limit - LIMIT_TOLERANCE
        ret = _shift_left(open_ff, 2, np.nan) / _shift_left(open_ff, 1, np.nan) - 1.0
    future_opens = np.flip(np.cumsum(np.flip(has_open, axis=1), axis=1), axis=1) > 0
    return _Tradability(
        liquid=np.nan_to_num(adv, nan=-np.inf) >= min_traded_value,
        opens_next=_shift_left(has_open, 1, False),
        limit_up_next=limit_up,
        alive_next=_shift_left(future_opens, 1, False),
        ret_next=ret,
        tax_next=sell_tax_array(next_dates) if n_days else np.empty(0),
    )


def _decision_days(n_days: int, start: int | None, end: int | None) -> np.ndarray:
    """Decision days in [start, end] that have both a trading open (t+1) and a valuation open (t+2)."""
    lo = 0 if start is None else max(int(start), 0)
    hi = n_days - 3 if end is None else min(int(end), n_days - 3)
    return np.arange(lo, hi + 1) if hi >= lo else np.arange(0)


def _pick(mask: np.ndarray, rank: np.ndarray, slots: int) -> np.ndarray:
    """Boolean mask of the ``slots`` best-ranked names in ``mask``."""
    out = np.zeros_like(mask)
    idx = np.flatnonzero(mask)
    if slots > 0 and idx.size:
        out[idx[np.argsort(rank[idx], kind="stable")[:slots]]] = True
    return out


def _target_weights(
    held: np.ndarray,
    w: np.ndarray,
    rank: np.ndarray,
    buyable: np.ndarray,
    tr: _Tradability,
    t: int,
    k: int,
    keep_rank: float,
) -> np.ndarray:
    """Equal weights over the kept, locked and newly bought names; locked names keep their weight."""
    locked = held & ~tr.opens_next[:, t] & tr.alive_next[:, t]
    keep = held & tr.opens_next[:, t] & (rank <= keep_rank)
    new = _pick(buyable & ~keep & ~locked, rank, k - int(locked.sum()) - int(keep.sum()))
    free = keep | new
    target = np.where(locked, w, 0.0)
    if free.any():
        target[free] = (1.0 - target.sum()) / free.sum()
    return target


def backtest_top_k(
    score: np.ndarray,
    panel: Panel,
    *,
    k: int = 20,
    min_traded_value: float = 1e9,
    hold_buffer: float = 2.0,
    start: int | None = None,
    end: int | None = None,
    commission: float = COMMISSION,
) -> BacktestResult:
    """Hold the top-k names by ``score`` (N, T; from day t's close), traded at t+1's open, net of costs.

    A held name stays while it ranks within the top ``hold_buffer × k`` of the day's candidates
    (liquid, scored, opening on t+1): without the buffer a name hovering around rank k is sold and
    bought back day after day, and the taxes eat the signal. The rest is filled from the top ranks
    of the names that can be bought, and the book is rebalanced to equal weights every day.
    """
    score = np.asarray(score, dtype=float)
    n_tickers, n_days = panel.ohlcv.shape[:2]
    if score.shape != (n_tickers, n_days):
        raise ValueError(f"score shape {score.shape} != panel {(n_tickers, n_days)}")
    if k < 1 or hold_buffer < 1:
        raise ValueError("k must be ≥ 1 and hold_buffer ≥ 1")
    tr = _tradability(panel, min_traded_value)
    days = _decision_days(n_days, start, end)
    candidate = ~np.isnan(score) & tr.liquid & tr.opens_next
    ranks = pd.DataFrame(np.where(candidate, -score, np.nan)[:, days]).rank(axis=0, method="first")
    ranks = ranks.fillna(np.inf).to_numpy()
    buyable = candidate & ~tr.limit_up_next

    out = np.zeros((4, days.size))  # net return, turnover, cost, names
    w = np.zeros(n_tickers)
    held = np.zeros(n_tickers, dtype=bool)
    for j, t in enumerate(days):
        target = _target_weights(held, w, ranks[:, j], buyable[:, t], tr, t, k, hold_buffer * k)
        delta = target - w
        bought, sold = float(delta[delta > 0].sum()), float(-delta[delta < 0].sum())
        cost = bought * commission + sold * (commission + tr.tax_next[t])
        held = target > 0
        grown = np.where(held, target * (1.0 + np.where(held, tr.ret_next[:, t], 0.0)), 0.0)
        gross = float(grown.sum() - target.sum())
        w = grown / (1.0 + gross)
        out[:, j] = ((1.0 - cost) * (1.0 + gross) - 1.0, (bought + sold) / 2.0, cost, held.sum())
    return _result(out[0], panel.dates[days], out[1], out[2], out[3])


def equal_weight_universe(
    panel: Panel,
    universe_mask: np.ndarray,
    *,
    min_traded_value: float = 1e9,
    start: int | None = None,
    end: int | None = None,
) -> BacktestResult:
    """The equal-weighted book of every eligible name, open-to-open, rebalanced daily, **no costs**.

    Eligible on decision day t as in the top-k book minus the score: in ``universe_mask`` ((N,) or
    (N, T) bool), liquid, opening on t+1 and not at the limit. It is the bar a model must clear —
    on KRX data the equal-weighted small and mid caps often beat the cap-weighted KOSPI, so beating
    KOSPI alone proves little. Costs are left out because a real replication would not trade the
    full daily rebalance; turnover is reported as NaN.
    """
    mask = np.asarray(universe_mask, dtype=bool)
    n_tickers, n_days = panel.ohlcv.shape[:2]
    mask = np.broadcast_to(mask[:, None] if mask.ndim == 1 else mask, (n_tickers, n_days))
    tr = _tradability(panel, min_traded_value)
    days = _decision_days(n_days, start, end)
    eligible = (mask & tr.liquid & tr.opens_next & ~tr.limit_up_next)[:, days]
    ret = np.where(eligible, tr.ret_next[:, days], 0.0)
    names = eligible.sum(axis=0)
    daily = np.where(names > 0, ret.sum(axis=0) / np.maximum(names, 1), 0.0)
    return _result(daily, panel.dates[days], np.full(days.size, np.nan), np.zeros(days.size), names.astype(float))


def buy_and_hold(
    level: np.ndarray, dates: np.ndarray, *, start: int | None = None, end: int | None = None
) -> BacktestResult:
    """Buy-and-hold of an index level (KOSPI), no costs: day t's return is close t → close t+1.

    The index has closes only, so its day-t interval is shifted by half a session from the book's
    open t+1 → open t+2; over a fold of months the difference is a fraction of one day's move.
    Missing levels are carried forward.
    """
    lv = _ffill(np.asarray(level, dtype=float)[None, :])[0]
    n_days = lv.size
    lo = 0 if start is None else max(int(start), 0)
    hi = n_days - 2 if end is None else min(int(end), n_days - 2)
    days = np.arange(lo, hi + 1) if hi >= lo else np.arange(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = lv[days + 1] / lv[days] - 1.0
    return _result(daily, np.asarray(dates)[days], np.full(days.size, np.nan), np.zeros(days.size), np.ones(days.size))
