"""Labels on hand-built series: the binary target, the daily rank, the 3-class call, dropped samples."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.features.labels import BUY, HOLD, SELL, build_labels, cross_sectional_rank, forward_returns
from support.panels import make_panel

NAN = np.nan


def test_binary_label_is_five_day_close_to_close_above_3pct() -> None:
    # day 0 → day 5: +4 % (up); day 1 → 6: +2 % (not up); day 2 → 7: +2.9 % (not up); day 3 → 8: +3.1 % (up)
    close = np.array([100, 100, 100, 100, 100, 104, 102, 102.9, 103.1, 103, 103, 103], dtype=float)
    labels = build_labels(make_panel(close), horizon=5, target=0.03)
    fwd = labels.forward_return[0]
    assert fwd[0] == pytest.approx(0.04)
    assert fwd[1] == pytest.approx(0.02)
    assert fwd[2] == pytest.approx(0.029)
    assert labels.up[0, :4].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert labels.horizon == 5


def test_window_past_the_data_is_dropped() -> None:
    close = 100 * 1.01 ** np.arange(12)
    labels = build_labels(make_panel(close), horizon=5)
    assert np.isfinite(labels.forward_return[0, :7]).all()
    assert np.isnan(labels.forward_return[0, 7:]).all()  # t + 5 beyond the last day
    assert np.isnan(labels.up[0, 7:]).all()
    assert np.isnan(labels.rank[0, 7:]).all()
    assert np.isnan(labels.three_class[0, 7:]).all()
    assert labels.valid[0].tolist() == [True] * 7 + [False] * 5


def test_window_through_a_halt_is_dropped() -> None:
    close = 100 * 1.01 ** np.arange(20)
    close[7] = NAN  # halted on day 7
    fwd = forward_returns(make_panel(close), 5)[0]
    assert np.isfinite(fwd[:2]).all()  # windows (0, 5] and (1, 6] miss the halt
    assert np.isnan(fwd[2:8]).all()  # windows (2, 7] … (6, 11] contain it; day 7 itself did not trade
    assert np.isfinite(fwd[8:15]).all()
    assert fwd[8] == pytest.approx(close[13] / close[8] - 1)


def test_window_across_a_move_beyond_the_limit_is_dropped() -> None:
    close = np.full(25, 100.0)
    close[12:] = 50.0  # −50 % on day 12: an unadjusted split, not a return
    fwd = forward_returns(make_panel(close), 5)[0]
    assert np.isfinite(fwd[:7]).all()
    assert np.isnan(fwd[7:12]).all()  # windows (7, 12] … (11, 16] contain day 12's move
    assert fwd[12] == pytest.approx(0.0)  # the window starting on the move's day is fine


def test_tradeable_return_starts_the_next_day() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 30)))
    labels = build_labels(make_panel(close), horizon=5)
    t = 10
    assert labels.tradeable_return[0, t] == pytest.approx(close[t + 6] / close[t + 1] - 1)
    assert labels.forward_return[0, t] == pytest.approx(close[t + 5] / close[t] - 1)
    assert np.isnan(labels.tradeable_return[0, -6:]).all()
    assert np.isfinite(labels.tradeable_return[0, :-6]).all()
    # a halt on day t+1: nobody can buy then (tradeable return of day t dropped), and it lies inside the
    # windows of days t−5 … t; the tradeable window of day t+1 starts on day t+2, after it
    close[t + 1] = NAN
    labels = build_labels(make_panel(close), horizon=5)
    assert np.isnan(labels.tradeable_return[0, t - 5: t + 1]).all()
    assert np.isfinite(labels.tradeable_return[0, t - 6])
    assert labels.tradeable_return[0, t + 1] == pytest.approx(close[t + 7] / close[t + 2] - 1)
    assert np.isnan(labels.forward_return[0, t - 4: t + 2]).all()
    assert np.isfinite(labels.forward_return[0, t - 5])


def test_daily_cross_sectional_rank() -> None:
    # four tickers whose 5-day returns on day 0 are +10 %, −5 %, +2 %, +2 %
    finals = np.array([110, 95, 102, 102], dtype=float)
    close = np.full((4, 8), 100.0)
    close[:, 5:] = finals[:, None]
    labels = build_labels(make_panel(close), horizon=5)
    np.testing.assert_allclose(labels.rank[:, 0], [1.0, 0.0, 0.5, 0.5])
    # rank is per day: a day where all are equal sits at the middle
    np.testing.assert_allclose(labels.rank[:, 1], [1.0, 0.0, 0.5, 0.5])


def test_rank_ignores_missing_and_maps_onto_0_1() -> None:
    values = np.array([[0.1, NAN, 5.0], [0.3, 1.0, NAN], [0.2, NAN, NAN], [NAN, NAN, NAN]])
    r = cross_sectional_rank(values)
    np.testing.assert_allclose(r[:3, 0], [0.0, 1.0, 0.5])
    assert np.isnan(r[3, 0])
    assert r[1, 1] == 0.5  # a lone value sits at the middle
    assert r[0, 2] == 0.5
    assert np.isnan(r[2, 1]) and np.isnan(r[1, 2])


def test_rank_within_the_universe_only() -> None:
    finals = np.array([110, 95, 102, 200], dtype=float)  # ticker 3 (an ETF, say) doubles
    close = np.full((4, 8), 100.0)
    close[:, 5:] = finals[:, None]
    close[3, 5:] = 130.0  # keep it within the price limit
    labels = build_labels(make_panel(close), horizon=5, universe=np.array([True, True, True, False]))
    np.testing.assert_allclose(labels.rank[:3, 0], [1.0, 0.0, 0.5])
    assert np.isnan(labels.rank[3, 0]) and np.isnan(labels.forward_return[3, 0]) and np.isnan(labels.up[3, 0])


def test_three_class_label_uses_the_thresholds() -> None:
    finals = np.array([110, 106, 101, 97, 90], dtype=float)  # +10, +6, +1, −3, −10 %
    close = np.full((5, 8), 100.0)
    close[:, 5:] = finals[:, None]
    default = build_labels(make_panel(close), horizon=5)
    assert default.three_class[:, 0].tolist() == [BUY, BUY, HOLD, SELL, SELL]
    wide = build_labels(make_panel(close), horizon=5, buy_threshold=0.08, sell_threshold=-0.05)
    assert wide.three_class[:, 0].tolist() == [BUY, HOLD, HOLD, HOLD, SELL]
    assert (SELL, HOLD, BUY) == (0, 1, 2)


def test_horizon_is_a_parameter() -> None:
    close = 100 * 1.02 ** np.arange(15)
    labels = build_labels(make_panel(close), horizon=3, target=0.05)
    assert labels.forward_return[0, 0] == pytest.approx(1.02**3 - 1)
    assert labels.up[0, 0] == 1.0
    assert np.isnan(labels.forward_return[0, -3:]).all() and np.isfinite(labels.forward_return[0, :-3]).all()
