"""The extra feature set: named apart from the seed's 30, no look-ahead, halts missing, hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.features.extra import EXTRA_FEATURE_LABELS, EXTRA_FEATURE_NAMES, build_extra_features
from kstock.features.tabular import FEATURE_NAMES
from kstock.market.types import OPEN, Panel
from support.panels import changed_after, make_panel


def col(name: str) -> int:
    return EXTRA_FEATURE_NAMES.index(name)


@pytest.fixture(scope="module")
def panel_and_index(request: pytest.FixtureRequest):
    """conftest's synthetic panel and KOSPI (the market test_features uses too)."""
    return request.getfixturevalue("synth_panel")


def test_a_second_named_set_with_labels_and_no_overlap() -> None:
    assert len(FEATURE_NAMES) == 30  # the seed's set is untouched
    assert len(set(EXTRA_FEATURE_NAMES)) == len(EXTRA_FEATURE_NAMES)
    assert not set(EXTRA_FEATURE_NAMES) & set(FEATURE_NAMES)
    assert set(EXTRA_FEATURE_LABELS) == set(EXTRA_FEATURE_NAMES)


def test_shape_dtype_and_halts_missing(panel_and_index) -> None:
    panel, market = panel_and_index
    cube = build_extra_features(panel, market)
    assert cube.values.shape == (len(panel.codes), len(panel.dates), len(EXTRA_FEATURE_NAMES))
    assert cube.values.dtype == np.float32
    assert cube.names == EXTRA_FEATURE_NAMES
    assert np.isnan(cube.values[~panel.traded]).all()
    assert not np.isinf(cube.values).any()
    i = panel.codes.index("005930")
    assert np.isfinite(cube.values[i, -1]).all()


@pytest.mark.parametrize("t", [60, 200, 330])
def test_no_look_ahead(panel_and_index, t: int) -> None:
    """Changing every field of every ticker after day t (and the index) leaves day ≤ t bit-identical."""
    panel, market = panel_and_index
    base = build_extra_features(panel, market).values
    after = build_extra_features(*changed_after(panel, market, t)).values
    np.testing.assert_array_equal(base[:, : t + 1], after[:, : t + 1])  # NaN == NaN, bit for bit
    assert not np.array_equal(base[:, t + 1:], after[:, t + 1:], equal_nan=True)


def test_a_recent_window_gives_the_whole_historys_last_day(panel_and_index) -> None:
    """The serving path computes features on a window of history_days() ≥ MAX_LOOKBACK: the extras' look-back
    fits inside the 52-week one, so a window that long gives the whole history's values."""
    from kstock.features.tabular import MAX_LOOKBACK

    panel, market = panel_and_index
    whole = build_extra_features(panel, market).values[:, -1]
    start = len(panel.dates) - MAX_LOOKBACK
    window = Panel(panel.codes, panel.dates[start:], panel.ohlcv[:, start:], panel.halted[:, start:],
                   panel.sector_ids)
    recent = build_extra_features(window, market[start:]).values[:, -1]
    np.testing.assert_allclose(recent, whole, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_overnight_and_intraday_split_the_days_return() -> None:
    close = np.array([[100.0, 110.0, 99.0, 99.0]])
    panel = make_panel(close)
    panel.ohlcv[0, 1, OPEN] = 105.0  # gap up 5 %, then +4.76 % during the day
    panel.ohlcv[0, 2, OPEN] = 110.0  # no gap, then −10 % during the day
    v = build_extra_features(panel).values[0]
    np.testing.assert_allclose(v[1, col("overnight_1d")], 0.05, rtol=1e-6)
    np.testing.assert_allclose(v[1, col("intraday_1d")], 110 / 105 - 1, rtol=1e-6)
    np.testing.assert_allclose(v[2, col("overnight_1d")], 0.0, atol=1e-7)
    np.testing.assert_allclose(v[2, col("intraday_1d")], -0.1, rtol=1e-6)
    # the two parts compound to the close-to-close return
    np.testing.assert_allclose((1 + v[1:3, col("overnight_1d")]) * (1 + v[1:3, col("intraday_1d")]),
                               [1.1, 0.9], rtol=1e-6)


def test_turnover_shock_and_regime_features() -> None:
    t = 100
    rng = np.random.default_rng(0)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, size=(6, t)), axis=1)
    panel = make_panel(close, volume=1000.0)
    panel.ohlcv[0, -1, 4] = 5000.0  # five times the usual volume on the last day
    v = build_extra_features(panel).values
    assert v[0, -1, col("turnover_shock_1_60")] > np.log(4)
    assert abs(v[1, -1, col("turnover_shock_1_60")]) < 0.1
    # regime features are one value per day, shared by every ticker
    for name in ("mkt_ret_20d", "mkt_vol_20d", "mkt_breadth_ma20", "mkt_dispersion_20d"):
        day = v[:, -1, col(name)]
        assert np.isfinite(day).all() and np.ptp(day) == 0, name
    assert 0.0 <= v[0, -1, col("mkt_breadth_ma20")] <= 1.0


def test_sector_relative_at_more_horizons() -> None:
    t = 80
    base = 100 * 1.001 ** np.arange(t)
    close = np.vstack([base, base * 1.002 ** np.arange(t), base, base, base * 0.999 ** np.arange(t), base])
    panel = make_panel(close, sectors=np.array([0, 0, 0, 1, 1, 1]))
    v = build_extra_features(panel).values
    rel = v[:, -1, col("rel_sector_5d")]
    # each sector's relative moves sum to zero; the stronger member of sector 0 is above its sector
    assert abs(rel[:3].sum()) < 1e-6 and abs(rel[3:].sum()) < 1e-6
    assert rel[1] > 0 > rel[0]
    # the sector's own 20-day move against the market: sector 0 beat sector 1
    assert v[0, -1, col("sector_vs_market_20d")] > 0 > v[3, -1, col("sector_vs_market_20d")]


def test_an_unadjusted_reverse_split_is_not_a_move_of_the_market(panel_and_index) -> None:
    """A 15:1 reverse split the source did not adjust (real KOSPI files have them) is not a +1,400 % return:
    the split name's returns across it are missing, and the market's dispersion — one value every name reads
    for 20 days — does not jump."""
    panel, market = panel_and_index
    split = panel.ohlcv.copy()
    i, t = panel.codes.index("005930"), len(panel.dates) - 30
    split[i, t:, :4] *= 15.0
    after = build_extra_features(Panel(panel.codes, panel.dates, split, panel.halted, panel.sector_ids), market).values
    before = build_extra_features(panel, market).values
    dispersion = col("mkt_dispersion_20d")
    np.testing.assert_allclose(after[0, t: t + 20, dispersion], before[0, t: t + 20, dispersion], rtol=0.1)
    assert np.isnan(after[i, t: t + 20, col("rel_market_60d")]).all()  # a window across the split: no return
    assert np.isfinite(after[i, t - 5: t, col("rel_market_60d")]).all()  # before it: as it was
