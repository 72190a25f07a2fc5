"""The 30 daily features: names, no look-ahead, halts missing, hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.features.tabular import FEATURE_LABELS, FEATURE_NAMES, bad_moves, build_features
from kstock.market.types import Panel
from kstock.ml.trees import predictor
from support.panels import changed_after, make_panel


def col(name: str) -> int:
    return FEATURE_NAMES.index(name)




def test_thirty_named_features_each_with_a_label() -> None:
    assert len(FEATURE_NAMES) == 30
    assert len(set(FEATURE_NAMES)) == 30
    assert set(FEATURE_LABELS) == set(FEATURE_NAMES)
    assert predictor.FEATURE_SETS["base"] is FEATURE_NAMES  # the trees read the seed's 30 as they are


def test_shape_and_dtype(synth_panel) -> None:
    panel, market = synth_panel
    cube = build_features(panel, market)
    assert cube.values.shape == (len(panel.codes), len(panel.dates), 30)
    assert cube.values.dtype == np.float32
    assert cube.names == FEATURE_NAMES
    # after the warm-up most features of a traded common stock are known
    i = panel.codes.index("005930")
    assert np.isfinite(cube.values[i, -1]).all()
    assert not np.isinf(cube.values).any()


@pytest.mark.parametrize("t", [60, 200, 330])
def test_no_look_ahead(synth_panel, t: int) -> None:
    """Changing every field of every ticker after day t (and the index) leaves day ≤ t bit-identical."""
    panel, market = synth_panel
    base = build_features(panel, market).values
    after = build_features(*changed_after(panel, market, t)).values
    np.testing.assert_array_equal(base[:, : t + 1], after[:, : t + 1])  # NaN == NaN, bit for bit
    assert not np.array_equal(base[:, t + 1:], after[:, t + 1:], equal_nan=True)


def test_no_look_ahead_without_index(synth_panel) -> None:
    panel, _ = synth_panel
    t = 150
    base = build_features(panel).values
    ohlcv = panel.ohlcv.copy()
    ohlcv[:, t + 1:] *= 1.7
    after = build_features(Panel(panel.codes, panel.dates, ohlcv, panel.halted, panel.sector_ids)).values
    np.testing.assert_array_equal(base[:, : t + 1], after[:, : t + 1])


def test_halt_days_are_missing_not_zero(synth_panel) -> None:
    panel, market = synth_panel
    cube = build_features(panel, market)
    halted = ~panel.traded & panel.halted
    assert halted.sum() >= 1, "the synthetic market should contain halts"
    assert np.isnan(cube.values[halted]).all()
    # days before listing too
    never = ~panel.traded
    assert np.isnan(cube.values[never]).all()


def test_halt_in_a_hand_series() -> None:
    close = 100 * 1.01 ** np.arange(80)
    close[50] = np.nan
    cube = build_features(make_panel(np.vstack([close, close * 2, close * 3])))
    assert np.isnan(cube.values[0, 50]).all()
    # the day after the halt: the 1-day return spans the halt (close 51 vs close 49), not zero or NaN
    assert cube.values[0, 51, col("ret_1d")] == pytest.approx(close[51] / close[49] - 1, rel=1e-5)
    assert np.isfinite(cube.values[0, 51, col("ret_20d")])


def test_hand_checked_returns_and_ma_gap() -> None:
    rng = np.random.default_rng(0)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))
    cube = build_features(make_panel(np.vstack([close, close[::-1]])))
    t = 150
    v = cube.values[0, t]
    assert v[col("ret_1d")] == pytest.approx(close[t] / close[t - 1] - 1, rel=1e-5)
    assert v[col("ret_5d")] == pytest.approx(close[t] / close[t - 5] - 1, rel=1e-5)
    assert v[col("ret_20d")] == pytest.approx(close[t] / close[t - 20] - 1, rel=1e-5)
    assert v[col("ma20_gap")] == pytest.approx(close[t] / close[t - 19: t + 1].mean() - 1, rel=1e-4, abs=1e-6)
    assert v[col("ma5_gap")] == pytest.approx(close[t] / close[t - 4: t + 1].mean() - 1, rel=1e-4, abs=1e-6)
    logret = np.diff(np.log(close))
    assert v[col("vol_20d")] == pytest.approx(np.std(logret[t - 20: t], ddof=1), rel=1e-4)
    assert v[col("range_1d")] == pytest.approx(0.02, rel=1e-5)  # high − low = 2 % of close
    assert v[col("close_location")] == pytest.approx(0.5, rel=1e-5)
    assert v[col("log_traded_value_20")] == pytest.approx(np.log1p((close[t - 19: t + 1] * 1000).mean()), rel=1e-5)


def test_rsi_is_100_on_a_rising_series_and_0_on_a_falling_one() -> None:
    up = 100 * 1.01 ** np.arange(60)
    cube = build_features(make_panel(np.vstack([up, up[::-1], np.full(60, 100.0)])))
    rsi = cube.values[:, :, col("rsi_14")]
    assert np.isnan(rsi[0, :13]).all()  # warm-up
    assert rsi[0, 30] == pytest.approx(100.0)
    assert rsi[1, 30] == pytest.approx(0.0)
    assert rsi[2, 30] == pytest.approx(50.0)  # flat: neither overbought nor oversold


def test_rel_market_uses_the_index_when_given() -> None:
    rng = np.random.default_rng(1)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.02, (4, 100)), axis=1))
    index = 2500 * np.exp(np.cumsum(rng.normal(0, 0.01, 100)))
    panel = make_panel(close)
    with_index = build_features(panel, index).values
    without = build_features(panel).values
    t = 60
    for k in (5, 20):
        ret = close[:, t] / close[:, t - k] - 1
        expected = ret - (index[t] / index[t - k] - 1)
        np.testing.assert_allclose(with_index[:, t, col(f"rel_market_{k}d")], expected, rtol=1e-4, atol=1e-6)
        # without the index: the panel's equal-weighted daily mean return compounded over k days
        daily = close[:, 1:] / close[:, :-1] - 1
        ew = np.prod(1 + daily.mean(axis=0)[t - k: t]) - 1
        np.testing.assert_allclose(without[:, t, col(f"rel_market_{k}d")], ret - ew, rtol=1e-4, atol=1e-6)


def test_rel_sector_is_relative_to_the_same_sector() -> None:
    rng = np.random.default_rng(2)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.02, (6, 60)), axis=1))
    sectors = np.array([1, 1, 1, 2, 2, 2])
    v = build_features(make_panel(close, sectors=sectors)).values[:, 40, col("rel_sector_20d")]
    ret = close[:, 40] / close[:, 20] - 1
    expected = np.concatenate([ret[:3] - ret[:3].mean(), ret[3:] - ret[3:].mean()])
    np.testing.assert_allclose(v, expected, rtol=1e-4, atol=1e-6)


def test_bad_moves_by_the_limit_of_the_period() -> None:
    close = np.full((1, 10), 100.0)
    close[0, 4:] = 140.0  # +40 %: beyond any limit
    assert bad_moves(make_panel(close, start="2024-01-02"))[0].tolist() == [False] * 4 + [True] + [False] * 5
    close = np.full((1, 10), 100.0)
    close[0, 4:] = 120.0  # +20 %: a real move after 2015-06-15, impossible (a split or fault) before
    assert not bad_moves(make_panel(close, start="2016-01-04")).any()
    assert bad_moves(make_panel(close, start="2014-01-02"))[0, 4]
    # a limit-up day (+30 % rounded to the tick) is a real move
    close = np.full((1, 10), 10_000.0)
    close[0, 4:] = 13_000.0
    assert not bad_moves(make_panel(close)).any()


def test_bad_move_is_kept_out_of_volatility() -> None:
    rng = np.random.default_rng(3)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))
    split = close.copy()
    split[60:] /= 2  # an unadjusted 2:1 split
    clean = build_features(make_panel(close)).values[0, 65, col("vol_20d")]
    faulty = build_features(make_panel(split)).values[0, 65, col("vol_20d")]
    assert faulty < 3 * clean  # the −50 % day is not a return
