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

from kstock.market.krx import COMMISSION
from kstock.market.tradability import Execution, buyable_at_close, execution, ffill_days
from kstock.market.types import Panel

TRADING_DAYS = 252
#: A held name stays while it ranks within this multiple of k (the backtest's and the served book's rule).
HOLD_BUFFER = 2.0


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
        """The summary, plus what costs took: cost paid per year (252 days) and the CAGR before costs."""
        costs = self.daily_costs if self.daily_costs.size == self.daily_returns.size else np.zeros(0)
        gross = (1.0 + self.daily_returns) / (1.0 - costs) - 1.0 if costs.size else self.daily_returns
        return {
            "cagr": self.cagr,
            "sharpe": self.sharpe,
            "max_drawdown": self.max_drawdown,
            "turnover": self.turnover,
            "total_return": self.total_return,
            "cost_paid_per_year": float(costs.mean() * TRADING_DAYS) if costs.size else 0.0,
            "cagr_before_costs": summarize(gross)["cagr"],
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


def select_book(
    held: np.ndarray, rank: np.ndarray, buyable: np.ndarray, k: int, keep_rank: float,
    locked: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The book's rule, shared by the backtest and the daily scoring: (kept, newly bought) masks.

    A held name is kept while it ranks within ``keep_rank`` (the hold buffer, 2 × k by default); the
    free slots of ``k`` (less the ``locked`` names that cannot be sold) go to the best-ranked buyable
    names not already held. ``rank`` is 1 for the best score, ``inf`` where a name is not ranked.
    """
    locked = np.zeros_like(held) if locked is None else locked
    keep = held & ~locked & (rank <= keep_rank)
    new = _pick(buyable & ~keep & ~locked, rank, k - int(locked.sum()) - int(keep.sum()))
    return keep, new


def _target_weights(
    held: np.ndarray,
    w: np.ndarray,
    rank: np.ndarray,
    buyable: np.ndarray,
    tr: Execution,
    t: int,
    k: int,
    keep_rank: float,
) -> np.ndarray:
    """Equal weights over the kept, locked and newly bought names; locked names keep their weight."""
    locked = held & ~tr.opens_next[:, t] & tr.alive_next[:, t]
    keep, new = select_book(held & tr.opens_next[:, t], rank, buyable, k, keep_rank, locked)
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
    eligible: np.ndarray | None = None,
    hold_buffer: float = HOLD_BUFFER,
    start: int | None = None,
    end: int | None = None,
    commission: float = COMMISSION,
) -> BacktestResult:
    """Hold the top-k names by ``score`` (N, T; from day t's close), traded at t+1's open, net of costs.

    A held name stays while it ranks within the top ``hold_buffer × k`` of the day's candidates
    (liquid, scored, opening on t+1): without the buffer a name hovering around rank k is sold and
    bought back day after day, and the taxes eat the signal. The rest is filled from the top ranks
    of the names that can be bought, and the book is rebalanced to equal weights every day.

    ``eligible`` is :func:`~kstock.market.tradability.buyable_at_close` — the same mask the daily
    scoring picks its BUY list from; without it every scored name is judged on liquidity alone (unit
    tests on a few days of data, where no name has the listing history the full rule asks for).
    """
    score = np.asarray(score, dtype=float)
    n_tickers, n_days = panel.ohlcv.shape[:2]
    if score.shape != (n_tickers, n_days):
        raise ValueError(f"score shape {score.shape} != panel {(n_tickers, n_days)}")
    if k < 1 or hold_buffer < 1:
        raise ValueError("k must be ≥ 1 and hold_buffer ≥ 1")
    if eligible is None:
        eligible = buyable_at_close(panel, np.ones(n_tickers, dtype=bool), min_traded_value, min_listed_days=1)
    tr = execution(panel)
    days = _decision_days(n_days, start, end)
    # A held name halted on t keeps its place in the ranking (it is judged, not bought); new buys come
    # only from the names buyable at the close.
    ranked = ~np.isnan(score) & tr.opens_next & (eligible | ~panel.traded)
    ranks = pd.DataFrame(np.where(ranked, -score, np.nan)[:, days]).rank(axis=0, method="first")
    ranks = ranks.fillna(np.inf).to_numpy()
    buyable = ranked & eligible & ~tr.limit_up_next

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
    eligible: np.ndarray | None = None,
) -> BacktestResult:
    """The equal-weighted book of every eligible name, open-to-open, rebalanced daily, **no costs**.

    Eligible on decision day t as in the top-k book minus the score: buyable at the close
    (``eligible``, else ``universe_mask`` ((N,) or (N, T) bool) and liquid), opening on t+1 and not
    at the limit. It is the bar a model must clear —
    on KRX data the equal-weighted small and mid caps often beat the cap-weighted KOSPI, so beating
    KOSPI alone proves little. Costs are left out because a real replication would not trade the
    full daily rebalance; turnover is reported as NaN.
    """
    n_days = panel.ohlcv.shape[1]
    if eligible is None:
        eligible = buyable_at_close(panel, universe_mask, min_traded_value, min_listed_days=1)
    tr = execution(panel)
    days = _decision_days(n_days, start, end)
    held = (eligible & tr.enterable)[:, days]
    ret = np.where(held, tr.ret_next[:, days], 0.0)
    names = held.sum(axis=0)
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
    lv = ffill_days(np.asarray(level, dtype=float)[None, :])[0]
    n_days = lv.size
    lo = 0 if start is None else max(int(start), 0)
    hi = n_days - 2 if end is None else min(int(end), n_days - 2)
    days = np.arange(lo, hi + 1) if hi >= lo else np.arange(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = lv[days + 1] / lv[days] - 1.0
    return _result(daily, np.asarray(dates)[days], np.full(days.size, np.nan), np.zeros(days.size), np.ones(days.size))
