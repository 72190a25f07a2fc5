"""The numpy chart rasteriser: pixels where the arithmetic says, nothing blank unless reported."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kstock.features import candle_raster
from kstock.features.candle_raster import (
    BODY,
    CHANNELS,
    WICK,
    BlankChartError,
    as_rgb,
    blank_mask,
    price_rows,
    rasterize_charts,
    rasterize_one,
)

UP, MA, DOWN = (CHANNELS.index(name) for name in ("up", "ma", "down"))


def random_windows(rng: np.random.Generator, n: int, days: int = 60, nan_frac: float = 0.0) -> np.ndarray:
    """Random-walk OHLCV windows with consistent high/low; a fraction of days set to NaN."""
    close = 1_000 * np.exp(np.cumsum(rng.normal(0, 0.03, (n, days)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.015, (n, days)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, (n, days))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, (n, days))))
    volume = rng.lognormal(11, 1, (n, days))
    x = np.stack([open_, high, low, close, volume], axis=-1)
    x[rng.random((n, days)) < nan_frac] = np.nan
    return x


def known_window(rising: bool = True) -> np.ndarray:
    """8 days drawn at 64 px: each day owns 8 columns (7 body + 1 gap), the wick in the 4th.

    Prices span exactly 100..147 over the window, so with a 48-row price panel one KRW is one row:
    row(p) = 47 - (p - 100).
    """
    x = np.tile([120.0, 125.0, 115.0, 121.0, 1_000.0], (8, 1))
    x[0] = [120, 147, 100, 121, 1_000]  # fixes the window's range
    open_, close = (110.0, 130.0) if rising else (130.0, 110.0)
    x[3] = [open_, 140, 105, close, 4_000]  # the candle under test, with the largest volume
    return x


def test_known_candle_lands_on_expected_pixels():
    img = rasterize_one(known_window(rising=True), size=64)
    assert price_rows(64) == 48
    candle = img[UP]
    cols = slice(24, 31)  # day 3 → columns 24..31, column 31 is the gap, 27 the wick column
    assert (candle[17:38, cols] == BODY).all()  # body: rows 47-30 .. 47-10
    assert (candle[7:17, 27] == WICK).all() and (candle[38:43, 27] == WICK).all()  # wick 47-40 .. 47-5
    assert candle[6, 27] == 0 and candle[43, 27] == 0  # just outside the wick
    assert (candle[7:17, [24, 25, 26, 28, 29, 30]] == 0).all()  # the wick is one column wide
    assert (candle[16, cols] != BODY).all() and (candle[38, cols] != BODY).all()  # just outside the body
    assert (candle[:48, 31] == 0).all() and (candle[:, 23] == 0).all()  # gap columns stay empty
    assert (img[DOWN][:, 24:32] == 0).all()  # a rising day never touches the down channel
    assert (candle[48, :] == 0).all()  # separator row
    assert (candle[49:64, cols] == 255).all()  # the window's largest volume fills the volume panel
    assert (candle[49:64, 31] == 0).all()


def test_rising_and_falling_candles_use_different_channels():
    up_img = rasterize_one(known_window(rising=True), size=64)
    down_img = rasterize_one(known_window(rising=False), size=64)
    np.testing.assert_array_equal(up_img[UP][:, 24:32], down_img[DOWN][:, 24:32])
    assert not down_img[UP][:, 24:32].any()
    assert not np.array_equal(up_img, down_img)


def test_random_valid_windows_never_render_blank_and_every_day_is_drawn():
    rng = np.random.default_rng(1)
    x = random_windows(rng, 300, nan_frac=0.1)
    x[0, 1:] = np.nan  # a single traded day is enough
    imgs = rasterize_charts(x, size=64)
    assert not blank_mask(imgs).any()
    starts = np.arange(61) * 64 // 60
    traded = ~np.isnan(x[:, :, 3])
    for day in range(60):
        band = imgs[:, [UP, DOWN], :, starts[day] : starts[day + 1]].reshape(len(x), -1)
        np.testing.assert_array_equal(band.any(axis=1), traded[:, day])  # lit exactly when traded


def test_nan_days_are_empty_columns_in_every_channel():
    x = random_windows(np.random.default_rng(2), 1, days=8)[0]
    x[5] = np.nan
    img = rasterize_one(x, size=64)
    assert not img[:, :, 40:48].any()
    assert img[:, :, 32:40].any() and img[:, :, 48:56].any()


def test_raw_krx_halt_rows_count_as_no_trade():
    x = known_window()
    with_halt = x.copy()
    with_halt[5] = [0, 0, 0, 121, 0]  # open = high = low = 0, close carried forward
    x[5] = np.nan
    np.testing.assert_array_equal(rasterize_one(with_halt, size=64), rasterize_one(x, size=64))


def test_ma_line_is_drawn_on_every_traded_day():
    x = random_windows(np.random.default_rng(3), 20, nan_frac=0.1)
    imgs = rasterize_charts(x, size=224, ma=5)
    starts = np.arange(61) * 224 // 60
    for day in range(60):
        lit = imgs[:, MA, : price_rows(224), starts[day] : starts[day + 1]].reshape(20, -1).any(axis=1)
        np.testing.assert_array_equal(lit, ~np.isnan(x[:, day, 3]))
    assert not imgs[:, MA, price_rows(224) :].any()  # the MA stays in the price panel


def test_batch_equals_per_sample_and_chunking_changes_nothing(monkeypatch):
    x = random_windows(np.random.default_rng(4), 12, nan_frac=0.05)
    batch = rasterize_charts(x, size=64)
    single = np.stack([rasterize_one(w, size=64) for w in x])
    np.testing.assert_array_equal(batch, single)
    monkeypatch.setattr(candle_raster, "_CHUNK_PIXELS", 1)  # one sample per chunk
    np.testing.assert_array_equal(rasterize_charts(x, size=64), batch)
    np.testing.assert_array_equal(rasterize_charts(x, size=64), batch)  # deterministic


@pytest.mark.parametrize("size", [32, 64, 224])
def test_sizes_shape_and_dtype(size):
    x = random_windows(np.random.default_rng(5), 6)
    imgs = rasterize_charts(x, size=size)
    assert imgs.shape == (6, len(CHANNELS), size, size) and imgs.dtype == np.uint8
    assert not blank_mask(imgs).any()
    lit = imgs[:, [UP, DOWN]].any(axis=(1, 2))  # (B, columns)
    if size < 60:  # days share columns: every column shows some day
        assert lit.all()
    else:  # every day's band shows its candle
        starts = np.arange(61) * size // 60
        assert all(lit[:, starts[d] : starts[d + 1]].any(axis=1).all() for d in range(60))
    assert as_rgb(imgs).shape == (6, size, size, 3)


def test_fewer_columns_than_days_merges_days():
    x = random_windows(np.random.default_rng(6), 3)
    x[:, 10:30] = np.nan
    imgs = rasterize_charts(x, size=32)  # 60 days on 32 columns
    col_of_day = np.arange(60) * 32 // 60
    empty_cols = sorted(set(col_of_day[10:30]) - set(col_of_day[:10]) - set(col_of_day[30:]))
    assert empty_cols and not imgs[:, :, :, empty_cols].any()


def test_flat_window_draws_on_the_middle_row_without_warnings():
    x = np.tile([500.0, 500.0, 500.0, 500.0, 10.0], (60, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = rasterize_one(x, size=64)
    lit_rows = np.flatnonzero(img[UP, :48].any(axis=1))
    assert lit_rows.tolist() == [47 // 2]


def test_all_nan_window_is_reported_never_silent():
    x = random_windows(np.random.default_rng(7), 4)
    x[[1, 3]] = np.nan
    with pytest.raises(BlankChartError) as err:
        rasterize_charts(x)
    assert err.value.indices.tolist() == [1, 3]
    with pytest.warns(RuntimeWarning, match="2 window"):
        imgs = rasterize_charts(x, empty="warn")
    assert blank_mask(imgs).tolist() == [False, True, False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = rasterize_charts(x, empty="allow")
    np.testing.assert_array_equal(quiet, imgs)


@pytest.mark.parametrize(
    ("shape", "size", "ma"),
    [((60, 5), 64, 5), ((2, 60, 4), 64, 5), ((2, 60, 5), 4, 5), ((2, 60, 5), 5000, 5), ((2, 60, 5), 64, 0)],
)
def test_bad_arguments_are_rejected(shape, size, ma):
    with pytest.raises(ValueError):
        rasterize_charts(np.ones(shape), size=size, ma=ma)
