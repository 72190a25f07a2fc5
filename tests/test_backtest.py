"""The top-k backtest and its baselines on tiny synthetic panels whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.market.krx import COMMISSION
from kstock.market.types import Panel
from kstock.ml.evaluation.backtest import backtest_top_k, buy_and_hold, equal_weight_universe, summarize

NAN = np.nan
P0 = 10_000.0  # × volume 1e6 = 1e10 KRW traded a day: comfortably liquid
VOL = 1e6


def make_panel(
    opens: np.ndarray,
    closes: np.ndarray | None = None,
    volume: float | np.ndarray = VOL,
    dates: list[str] | None = None,
) -> Panel:
    """A panel from (N, T) opens (NaN = halted: the whole row is NaN) and closes (default = opens)."""
    opens = np.asarray(opens, dtype=float)
    closes = opens.copy() if closes is None else np.asarray(closes, dtype=float)
    n, t = opens.shape
    vol = np.where(np.isnan(opens), NAN, np.broadcast_to(np.asarray(volume, dtype=float), (n, t)))
    ohlcv = np.stack([opens, np.fmax(opens, closes), np.fmin(opens, closes), closes, vol], axis=-1)
    ohlcv[np.isnan(opens)] = NAN
    days = np.array(dates, dtype="datetime64[D]") if dates else np.datetime64("2024-03-04") + np.arange(t)
    return Panel(codes=[f"{i:06d}" for i in range(n)], dates=days, ohlcv=ohlcv, halted=np.isnan(opens))


def flat(n: int, t: int) -> np.ndarray:
    return np.full((n, t), P0)


def scores(t: int, *values: float) -> np.ndarray:
    """Constant score per ticker over all days."""
    return np.repeat(np.array(values, dtype=float)[:, None], t, axis=1)


def test_trades_at_next_open_not_at_signal_close() -> None:
    # Ticker 0 closes day 0 at 10,000 and opens day 1 at 12,000 (+20 % overnight, under the limit),
    # then rises 1 %/day open to open. The score is known at day 0's close; the book buys at day 1's
    # open, so the 20 % gap is not captured: day 0 earns 1 % less the buy commission, then 1 % a day.
    t = 8
    opens = flat(3, t)
    opens[0, 0] = P0
    opens[0, 1:] = 12_000.0 * 1.01 ** np.arange(t - 1)
    res = backtest_top_k(scores(t, 3, 2, 1), make_panel(opens), k=1)
    assert res.n_days == t - 2  # the last decision needs opens t+1 and t+2
    assert res.daily_returns[0] == pytest.approx((1 - COMMISSION) * 1.01 - 1)
    np.testing.assert_allclose(res.daily_returns[1:], 0.01)
    assert res.daily_costs[0] == pytest.approx(COMMISSION)
    assert res.daily_costs[1:].sum() == 0.0
    assert res.turnover == pytest.approx(0.5 / res.n_days)
    assert res.avg_names == 1.0
    assert res.total_return < 0.07  # a book that bought at close 0 would show > 27 %
    assert set(res.as_dict()) == {"cagr", "sharpe", "max_drawdown", "turnover", "total_return", "cost_paid_per_year",
                                  "cagr_before_costs"}
    assert res.as_dict()["cost_paid_per_year"] == pytest.approx(COMMISSION / res.n_days * 252)
    assert res.as_dict()["cagr_before_costs"] > res.cagr


@pytest.mark.parametrize(("open1", "bought"), [(13_000.0, False), (12_900.0, True)])
def test_limit_up_open_cannot_be_bought(open1: float, bought: bool) -> None:
    # Ticker 0 (best score) opens day 1 at +30 % (limit) or +29 % (tradeable), flat afterwards;
    # ticker 1 rises 0.5 %/day. At the limit the book must take ticker 1 instead.
    t = 6
    opens = flat(2, t)
    opens[0, 1:] = open1
    opens[1] = P0 * 1.005 ** np.arange(t)
    res = backtest_top_k(scores(t, 2, 1), make_panel(opens), k=1, hold_buffer=1.0)
    expected_gross = 0.0 if bought else 0.005
    assert res.daily_returns[0] == pytest.approx((1 - COMMISSION) * (1 + expected_gross) - 1)


def test_halted_name_carries_value_and_cannot_be_sold() -> None:
    # Ticker 0 is halted on day 3 and re-opens on day 4 at 10,400. On decision day 2 it drops below
    # ticker 1 (and would be sold with hold_buffer=1), but day 3 has no open: it stays, priced at
    # its last open 10,100, and earns the gap to 10,400 when it trades again.
    t = 7
    opens = flat(2, t)
    opens[0] = [10_000, 10_000, 10_100, NAN, 10_400, 10_500, 10_600]
    score = scores(t, 3, 2)
    score[0, 2] = 0.0
    res = backtest_top_k(score, make_panel(opens), k=1, hold_buffer=1.0)
    expected = [(1 - COMMISSION) * 1.01 - 1, 0.0, 10_400 / 10_100 - 1, 10_500 / 10_400 - 1, 10_600 / 10_500 - 1]
    np.testing.assert_allclose(res.daily_returns, expected)
    assert res.daily_costs[1:].sum() == 0.0


DATES = ["2024-12-24", "2024-12-26", "2024-12-27", "2024-12-30", "2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07"]


@pytest.mark.parametrize(("decision_day", "tax"), [(2, 0.0018), (3, 0.0015)])
def test_sell_tax_of_the_sale_year(decision_day: int, tax: float) -> None:
    # Flat prices; ticker 0 loses its score on ``decision_day`` and is sold at the next open
    # (2024-12-30 → 0.18 %, 2025-01-02 → 0.15 %), ticker 1 is bought: cost = 2 commissions + tax.
    score = scores(len(DATES), 2, 1)
    score[0, decision_day:] = NAN
    res = backtest_top_k(score, make_panel(flat(2, len(DATES)), dates=DATES), k=1)
    assert res.daily_returns[0] == pytest.approx(-COMMISSION)
    assert res.daily_returns[decision_day] == pytest.approx(-(2 * COMMISSION + tax))
    assert res.daily_returns[decision_day + 1 :].sum() == 0.0


def test_illiquid_name_is_never_bought() -> None:
    # Ticker 0 has the best score and rises 5 %/day but trades 100 shares (1e6 KRW) a day.
    t = 8
    opens = flat(2, t)
    opens[0] = P0 * 1.05 ** np.arange(t)
    volume = np.array([[100.0], [VOL]])
    res = backtest_top_k(scores(t, 2, 1), make_panel(opens, volume=volume), k=1)
    assert res.daily_returns[0] == pytest.approx(-COMMISSION)
    assert np.all(res.daily_returns[1:] == 0.0)
    loose = backtest_top_k(scores(t, 2, 1), make_panel(opens, volume=volume), k=1, min_traded_value=0.0)
    assert loose.daily_returns[1] == pytest.approx(0.05)


def test_hold_buffer_avoids_churn() -> None:
    # Flat prices, two names swapping first place every day: with the buffer the first name is
    # kept (rank 2 ≤ 2·k), without it the book pays a round trip every day.
    t = 8
    score = scores(t, 2, 1)
    score[:, 1::2] = score[::-1, 1::2]
    panel = make_panel(flat(2, t))
    buffered = backtest_top_k(score, panel, k=1, hold_buffer=2.0)
    churned = backtest_top_k(score, panel, k=1, hold_buffer=1.0)
    assert buffered.daily_costs[1:].sum() == 0.0
    assert np.all(churned.daily_turnover[1:] == pytest.approx(1.0))


def test_delisted_name_is_released() -> None:
    # Ticker 0 stops trading after day 2 for good: decision day 2 sells it at its last open and buys
    # ticker 1, instead of freezing the slot forever.
    t = 7
    opens = flat(2, t)
    opens[0, 3:] = NAN
    res = backtest_top_k(scores(t, 2, 1), make_panel(opens), k=1)
    tax = 0.0018
    assert res.daily_returns[2] == pytest.approx(-(2 * COMMISSION + tax))
    assert res.daily_names[3:].tolist() == [1, 1]


def test_equal_weights_and_partial_book() -> None:
    # k=3 but two scored names: equal halves; returns 1 % and 0 % → 0.5 %.
    t = 6
    opens = flat(3, t)
    opens[0] = P0 * 1.01 ** np.arange(t)
    res = backtest_top_k(np.array([[1.0] * t, [0.5] * t, [NAN] * t]), make_panel(opens), k=3)
    assert res.daily_returns[0] == pytest.approx((1 - COMMISSION) * 1.005 - 1)
    assert res.avg_names == 2.0
    # the winner drifts above 50 %: rebalancing sells a little of it each day
    assert np.all(res.daily_turnover[1:] > 0)


def test_start_end_fold_starts_in_cash() -> None:
    t = 10
    opens = flat(2, t)
    opens[0] = P0 * 1.01 ** np.arange(t)
    panel = make_panel(opens)
    fold = backtest_top_k(scores(t, 2, 1), panel, k=1, start=3, end=5)
    assert fold.n_days == 3
    np.testing.assert_array_equal(fold.dates, panel.dates[3:6])
    assert fold.daily_returns[0] == pytest.approx((1 - COMMISSION) * 1.01 - 1)
    assert backtest_top_k(scores(t, 2, 1), panel, k=1, start=6, end=100).n_days == 2  # t-3 is the last


def test_summarize_known_series() -> None:
    s = summarize(np.array([0.1, -0.5, 0.2]), np.arange(3))
    assert s["total_return"] == pytest.approx(1.1 * 0.5 * 1.2 - 1)
    assert s["max_drawdown"] == pytest.approx(-0.5)  # 1.1 → 0.55
    assert s["cagr"] == pytest.approx(0.66 ** (252 / 3) - 1)
    assert summarize(np.array([-0.1, 0.05]))["max_drawdown"] == pytest.approx(-0.1)  # first-day loss counts
    year = summarize(np.full(252, 0.001))
    assert year["cagr"] == pytest.approx(1.001**252 - 1)
    assert np.isnan(year["sharpe"])  # zero volatility
    r = np.array([0.01, -0.01, 0.02, 0.0])
    assert summarize(r)["sharpe"] == pytest.approx(0.005 / np.sqrt(0.0005 / 3) * np.sqrt(252))
    assert np.isnan(summarize(np.array([]))["cagr"])


def test_buy_and_hold_index() -> None:
    dates = np.datetime64("2024-01-02") + np.arange(5)
    res = buy_and_hold(np.array([100.0, 110.0, NAN, 99.0, 99.0]), dates)
    np.testing.assert_allclose(res.daily_returns, [0.1, 0.0, -0.1, 0.0])
    assert res.max_drawdown == pytest.approx(-0.1)
    assert res.total_return == pytest.approx(-0.01)
    assert buy_and_hold(np.arange(1.0, 6.0), dates, start=1, end=2).daily_returns == pytest.approx([0.5, 1 / 3])


def test_equal_weight_universe() -> None:
    # 0: +1 %/day; 1: flat; 2: illiquid +10 %/day; 3: outside the universe +10 %/day;
    # 4: +1 %/day but opens day 1 at the limit (excluded on decision day 0 only).
    t = 6
    opens = flat(5, t)
    opens[0] = P0 * 1.01 ** np.arange(t)
    opens[2] = opens[3] = P0 * 1.1 ** np.arange(t)
    opens[4, 1:] = 13_000 * 1.01 ** np.arange(t - 1)
    volume = np.array([[VOL], [VOL], [1.0], [VOL], [VOL]])
    mask = np.array([True, True, True, False, True])
    res = equal_weight_universe(make_panel(opens, volume=volume), mask)
    np.testing.assert_allclose(res.daily_returns, [0.005] + [0.02 / 3] * 3)
    assert res.daily_names.tolist() == [2, 3, 3, 3]
    assert np.isnan(res.turnover)


def test_random_book_invariants() -> None:
    rng = np.random.default_rng(1)
    n, t = 120, 250
    opens = P0 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, t)), axis=1))
    opens[rng.random((n, t)) < 0.02] = NAN  # scattered halts
    res = backtest_top_k(rng.normal(size=(n, t)), make_panel(opens), k=10)
    assert np.isfinite(res.daily_returns).all()
    assert res.daily_names.max() <= 10
    assert 0 < res.turnover <= 1
    assert res.max_drawdown <= 0
