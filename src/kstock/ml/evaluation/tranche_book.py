"""The followable book: what a subscriber who reads one push after the close can actually run (issue 16).

The signal is a ``horizon``-day one, so the book holds each pick for ``horizon`` sessions in overlapping
tranches: every day about ``k / horizon`` names are bought at the next open with the cash the day frees,
and the names bought ``horizon`` days ago are sold at the next open — unless they still rank within the top
``keep_rank`` (2 × k; at most a fifth of the buyable names, :func:`keep_rank_for`), in which case they
are kept and their holding starts again (the hold buffer: a name hovering near the top is not sold and
bought back, and the taxes do not eat the signal). A name is held at
most once (the per-name cap: one slot, 1/k of the book when bought), so the book has about ``k`` names,
a follower trades a handful a day, and one day's turnover is at most 1/horizon.

:func:`plan_day` is the rule, shared by the backtest (:func:`backtest_followable`), the daily scoring (the
stored book the push and ``/signals`` show: today's new buys, today's exits, the holdings with their entry
dates) and the ledger (which measures each day's new and kept names over ``horizon`` days).

Accounting in the backtest: positions are valued at the open; the proceeds of the day's exits (less the
commission and the sell tax) buy the day's new names in equal parts (less the commission); in the first
``horizon`` days 1/horizon of the starting cash is added each day, so the book fills up like tranches.
Cash that found nothing to buy waits for the next day. A held name that cannot be sold (no open on t+1)
stays and is offered for sale again the next day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kstock.market.krx import COMMISSION
from kstock.market.tradability import buyable_at_close, execution
from kstock.market.types import Panel


@dataclass
class DayPlan:
    """One day's trades, by ticker index: sold at the next open, kept (holding restarts), bought, held on."""

    exits: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    buys: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # positions not due today (or due but unsellable)


def keep_rank_for(k: int, n_buyable: int, buffer: float = 2.0) -> float:
    """How high a due name must still rank to be kept: the top ``buffer × k``, but never more than a fifth of
    the day's buyable names (and never less than ``k``) — in a small market a 2K buffer would keep everything
    forever. With hundreds of buyable names (the whole KRX market, 350+ a day) it is simply 2K."""
    return float(min(buffer * k, max(k, n_buyable / 5)))


def slots_per_day(k: int, horizon: int) -> int:
    """New names a day: the book's ``k`` places spread over ``horizon`` tranches (at least one)."""
    return max(1, math.ceil(k / horizon))


def plan_day(
    holdings: dict[int, int],
    t: int,
    rank: np.ndarray,
    buyable: np.ndarray,
    *,
    k: int,
    horizon: int,
    keep_rank: float,
    can_sell: np.ndarray | None = None,
) -> DayPlan:
    """The trades decided at day ``t``'s close.

    ``holdings`` maps a held ticker index to the day its current holding started (the decision day it was
    bought or last kept on). ``rank`` is 1 for the day's best score (``inf`` where unranked); ``buyable``
    the names that may be bought. ``can_sell`` (default: all) marks names that have an open on t+1 —
    unknown at the close, so the live book assumes every name trades and the backtest knows.
    """
    plan = DayPlan()
    for i, start in sorted(holdings.items()):
        due = t - start >= horizon
        if not due or (can_sell is not None and not can_sell[i]):
            plan.held.append(i)
        elif rank[i] <= keep_rank:
            plan.kept.append(i)
        else:
            plan.exits.append(i)
    staying = len(plan.held) + len(plan.kept)
    wanted = min(slots_per_day(k, horizon) - len(plan.kept), k - staying)
    if wanted > 0:
        candidates = np.flatnonzero(buyable & np.isfinite(rank))
        candidates = candidates[~np.isin(candidates, list(holdings))]
        plan.buys = [int(i) for i in candidates[np.argsort(rank[candidates], kind="stable")][:wanted]]
    return plan


def apply_plan(holdings: dict[int, int], plan: DayPlan, t: int) -> dict[int, int]:
    """Holdings after the day's trades: exits gone, kept and bought names start their holding at ``t``."""
    out = {i: s for i, s in holdings.items() if i not in plan.exits}
    out.update({i: t for i in plan.kept + plan.buys})
    return out


def daily_ranks(score: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """(N, T) rank of each name among ``ranked`` by descending score (1 = best; inf elsewhere)."""
    ranks = pd.DataFrame(np.where(ranked, -score, np.nan)).rank(axis=0, method="first")
    return ranks.fillna(np.inf).to_numpy()


@dataclass
class FollowableResult:
    daily_returns: np.ndarray  # net, one per decision day (open t+1 → open t+2)
    gross_returns: np.ndarray  # the same before costs
    daily_turnover: np.ndarray  # traded value / book value, one-sided
    daily_costs: np.ndarray  # costs / book value
    daily_names: np.ndarray
    dates: np.ndarray
    trace: list[DayPlan] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, float]:
        """CAGR, Sharpe, drawdown and total return after costs, and what the costs took (per year, 252 days)."""
        from kstock.ml.evaluation.backtest import TRADING_DAYS, summarize

        net = summarize(self.daily_returns)
        return {**net, "turnover": _mean(self.daily_turnover), "cost_paid_per_year": _mean(self.daily_costs)
                * TRADING_DAYS, "cagr_before_costs": summarize(self.gross_returns)["cagr"],
                "avg_names": _mean(self.daily_names)}


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def backtest_followable(
    score: np.ndarray,
    panel: Panel,
    *,
    k: int = 20,
    horizon: int = 5,
    min_traded_value: float = 1e9,
    eligible: np.ndarray | None = None,
    keep_buffer: float = 2.0,
    start: int | None = None,
    end: int | None = None,
    commission: float = COMMISSION,
    keep_trace: bool = False,
    buy_calls: np.ndarray | None = None,
) -> FollowableResult:
    """Run the followable book over decision days [start, end] (see the module docstring).

    ``buy_calls`` (N, T), when given, limits each day's new names to that day's 매수 calls, as the live book
    buys only the names its band table calls BUY (:func:`~kstock.ml.evaluation.calibration.buy_calls_then`).
    """
    score = np.asarray(score, dtype=float)
    n_tickers, n_days = panel.ohlcv.shape[:2]
    if eligible is None:
        eligible = buyable_at_close(panel, np.ones(n_tickers, dtype=bool), min_traded_value, min_listed_days=1)
    ex = execution(panel)
    lo = 0 if start is None else max(int(start), 0)
    hi = n_days - 3 if end is None else min(int(end), n_days - 3)
    days = np.arange(lo, hi + 1) if hi >= lo else np.arange(0)
    ranked = ~np.isnan(score) & (eligible | ~panel.traded)
    out = np.zeros((5, days.size))  # net, gross, turnover, cost, names
    value = np.zeros(n_tickers)  # money in each position, valued at the open
    reserve, cash = 1.0, 0.0  # starting money not yet released to the tranches; money that found nothing to buy
    holdings: dict[int, int] = {}
    trace = []
    for j, t in enumerate(days):
        rank = daily_ranks(score[:, t: t + 1], ranked[:, t: t + 1])[:, 0]
        can_buy = ~np.isnan(score[:, t]) & eligible[:, t] & ex.enterable[:, t]
        if buy_calls is not None:
            can_buy &= buy_calls[:, t]
        n_buyable = int((~np.isnan(score[:, t]) & eligible[:, t]).sum())
        plan = plan_day(holdings, int(t), rank, can_buy, k=k, horizon=horizon,
                        keep_rank=keep_rank_for(k, n_buyable, keep_buffer),
                        can_sell=ex.opens_next[:, t] | ~ex.alive_next[:, t])  # a delisted name: its last price
        before = reserve + cash + value.sum()
        release = min(reserve, 1.0 / horizon) if j < horizon else reserve
        reserve -= release
        sold = float(value[plan.exits].sum())
        sell_cost = sold * (commission + ex.tax_next[t])
        value[plan.exits] = 0.0
        budget = cash + release + sold - sell_cost
        spend = budget if plan.buys else 0.0
        buy_cost = spend * commission
        if plan.buys:
            value[plan.buys] = (spend - buy_cost) / len(plan.buys)
        cash = budget - spend
        holdings = apply_plan(holdings, plan, int(t))
        cost = sell_cost + buy_cost
        value = value * (1.0 + np.where(value > 0, np.nan_to_num(ex.ret_next[:, t]), 0.0))
        after = reserve + cash + value.sum()
        out[:, j] = (after / before - 1.0, (after + cost) / before - 1.0, (sold + spend) / 2.0 / before,
                     cost / before, len(holdings))
        if keep_trace:
            trace.append(plan)
    return FollowableResult(out[0], out[1], out[2], out[3], out[4], panel.dates[days], trace)
