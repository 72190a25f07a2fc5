"""The followable book (`kstock.ml.evaluation.tranche_book`): horizon-day tranches, a hold buffer, one slot a name."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.market.krx import COMMISSION, sell_tax
from kstock.ml.evaluation.tranche_book import apply_plan, backtest_followable, plan_day, slots_per_day
from support.panels import panel

INF = np.inf


def test_due_names_are_kept_while_in_the_buffer_and_sold_otherwise() -> None:
    rank = np.array([1, 2, 3, 50, 5, 6, INF], dtype=float)
    buyable = np.array([True, True, True, True, True, True, False])
    holdings = {0: 0, 3: 0, 4: 3}  # 0 and 3 bought on day 0 (due on day 5), 4 on day 3 (not due)
    plan = plan_day(holdings, 5, rank, buyable, k=4, horizon=5, keep_rank=8)
    assert plan.kept == [0] and plan.exits == [3] and plan.held == [4]
    assert plan.buys == []  # one slot a day (4 names / 5 days), taken by the kept name
    plan = plan_day(holdings, 5, rank, buyable, k=10, horizon=5, keep_rank=8)
    assert plan.buys == [1]  # two slots: the kept name and the best buyable name not held
    after = apply_plan(holdings, plan, 5)
    assert after == {0: 5, 1: 5, 4: 3}  # the kept name's holding starts again


def test_a_name_is_never_bought_twice_and_the_book_never_exceeds_k() -> None:
    rank = np.arange(1, 11, dtype=float)
    buyable = np.ones(10, dtype=bool)
    holdings: dict[int, int] = {}
    for t in range(12):
        plan = plan_day(holdings, t, rank, buyable, k=6, horizon=3, keep_rank=12)
        assert not set(plan.buys) & set(holdings)
        holdings = apply_plan(holdings, plan, t)
        assert len(holdings) <= 6
    assert sorted(holdings) == [0, 1, 2, 3, 4, 5]  # the six best, kept by the buffer
    assert slots_per_day(20, 5) == 4 and slots_per_day(3, 5) == 1


def test_unsellable_names_wait() -> None:
    plan = plan_day({0: 0}, 5, np.array([INF]), np.array([False]), k=2, horizon=5, keep_rank=4,
                    can_sell=np.array([False]))
    assert plan.exits == [] and plan.held == [0]


def test_one_rising_name_earns_its_move_less_the_costs_of_one_round_trip() -> None:
    t = 12
    opens = np.full((2, t), 10_000.0)
    opens[0, 2:] = 11_000.0  # bought at day 1's open (signal of day 0), +10 % at day 2's open, then flat
    score = np.vstack([np.ones(t), np.zeros(t)])
    score[0, 1:] = np.nan  # scored on day 0 only: not kept when due, sold at the open of day 6
    score[1, :] = np.nan
    res = backtest_followable(score, panel(opens, opens=opens), k=1, horizon=5, min_traded_value=0.0)
    equity = np.cumprod(1.0 + res.daily_returns)
    # day 0 released 1/5 of the money into the name; the other 4/5 were never spent (nothing else to buy)
    gain = 0.2 * ((1 - COMMISSION) * 1.1 * (1 - COMMISSION - sell_tax(str(res.dates[5] + 1))) - 1)
    assert equity[-1] - 1.0 == pytest.approx(gain, rel=1e-9)
    assert res.daily_turnover.max() < 0.12 and res.daily_names.max() == 1  # one fifth of the money, grown 10 %


def test_turnover_stays_within_a_tranche_a_day() -> None:
    rng = np.random.default_rng(0)
    n, t = 60, 80
    opens = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, t)), axis=1))
    score = rng.normal(size=(n, t))
    res = backtest_followable(score, panel(opens, opens=opens), k=10, horizon=5, min_traded_value=0.0)
    # one tranche (a fifth of the book) at most a day, give or take how far its names drifted
    assert res.daily_names.max() <= 10 and res.daily_turnover.mean() <= 0.2 and res.daily_turnover.max() < 0.3
    assert (res.daily_costs >= 0).all() and np.all(res.gross_returns >= res.daily_returns - 1e-15)
    d = res.as_dict()
    assert {"cagr", "sharpe", "max_drawdown", "turnover", "cost_paid_per_year", "cagr_before_costs"} <= set(d)


def test_the_served_book_is_the_backtests_book(synth_golden, tmp_path) -> None:
    """Nine days of the live loop store exactly the trades the backtest makes from the same scores and 매수 calls."""
    from kstock.market.dates import day_int
    from kstock.service.context import Services
    from kstock.service.daily import run_daily
    from kstock.service.scoring import stored_book
    from support.workspace import copy_workspace, synth_settings

    services = Services(synth_settings(copy_workspace(synth_golden, tmp_path / "ws")))
    days = [run_daily(services).day for _ in range(9)]
    data = services.model_data()
    score = np.full(data.panel.close.shape, np.nan)
    calls = np.zeros(data.panel.close.shape, dtype=bool)
    index = {c: i for i, c in enumerate(data.panel.codes)}
    for d in days:
        rows = services.store.conn.execute("SELECT code, score, label FROM signals WHERE date = ?",
                                           (day_int(d),)).fetchall()
        t = data.panel.date_index(d)
        for code, s, label in rows:
            score[index[code], t] = s
            calls[index[code], t] = label == "BUY"
    settings = services.settings
    first, last = data.panel.date_index(days[0]), data.panel.date_index(days[-1])
    res = backtest_followable(score, data.panel, k=settings.top_k, horizon=settings.label_horizon,
                              eligible=data.buyable(settings.min_traded_value), start=first, end=last,
                              keep_trace=True, buy_calls=calls)
    codes = np.asarray(data.panel.codes)
    assert len(res.trace) == len(days) - 2  # the backtest needs two more opens to value the last days
    for d, plan in zip(days, res.trace, strict=False):
        book = stored_book(services, d)
        assert {s.code for s in book["BUY"] if s.entry == "new"} == set(codes[plan.buys]), d
        assert all(s.label == "BUY" for s in book["BUY"] if s.entry == "new"), d  # the basket is 매수 calls
        assert {s.code for s in book["BUY"] if s.entry == "kept"} == set(codes[plan.kept]), d
        assert {s.code for s in book["EXIT"]} == set(codes[plan.exits]), d
    services.close()


def test_the_hold_buffer_shrinks_in_a_small_market() -> None:
    from kstock.ml.evaluation.tranche_book import keep_rank_for

    assert keep_rank_for(20, 416) == 40  # the whole market: the top 2K
    assert keep_rank_for(20, 38) == 20  # 38 buyable names: a 2K buffer would keep everything forever
    assert keep_rank_for(20, 150) == 30
