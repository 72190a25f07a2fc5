"""The sector model's image input — a feature, not a picture for people: candlestick images rasterised from
OHLCV windows in numpy, in batches, with no files.

The sector model's CNN branch looks at a picture of the same 60-day window the transformer reads.
The earlier design (LASPS) drew each window with matplotlib, stored ~1M PNG files and spent most of
each epoch reading them back; twice it trained on blank images without noticing (a file-name
mismatch, then a memmap that was all zeros). Here the picture is computed from the window when the
batch is built: a few broadcast comparisons per batch, no disk, no plotting library, and a window
that cannot be drawn is reported rather than silently handed over as zeros.

Image layout (``size`` × ``size`` pixels, row 0 at the top):

* rows ``[0, price_rows)``, about the top 75 %: the price panel, scaled per sample to the window's
  lowest and highest traded price;
* one empty separator row;
* the remaining rows: volume bars, scaled per sample to the window's largest volume.

Day ``d`` of a ``W``-day window owns the pixel columns ``[d*size//W, (d+1)*size//W)`` — integer
arithmetic, so with ``size >= W`` every day gets at least one column (64 px / 60 days: four days
get two columns). A band of three or more columns keeps its last column empty as a gap between
candles; the wick is drawn in the middle body column. With ``size < W`` several days share a
column and are merged by maximum (the picture stays complete, just coarser).

Channels — three, so the image reads as RGB in the Korean convention (red up, blue down):

* 0 ``up``: candles and volume bars of rising days (close ≥ open);
* 1 ``ma``: the moving average of the close (``ma`` days, over the traded days in reach);
* 2 ``down``: candles and volume bars of falling days (close < open).

Rising and falling candles therefore never share a channel. Within a candle channel the body is
``BODY`` (255), the wick outside the body ``WICK`` (128) — so a one-column candle still shows where
its body ends — and volume bars are ``VOLUME`` (255). Days with any of open/high/low/close NaN did
not trade: their columns stay zero in every channel.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Literal

import numpy as np

from kstock.market.types import CLOSE, HIGH, LOW, OPEN, PANEL_FIELDS, VOLUME

CHANNELS: tuple[str, ...] = ("up", "ma", "down")
BODY, WICK, VOLUME_PX, MA_PX = 255, 128, 255, 255
MIN_SIZE, MAX_SIZE = 8, 4096  # rows are int16 in the drawing arithmetic
_CHUNK_PIXELS = 1 << 22  # bound the per-chunk temporaries (~4M pixels) for big batches
_NONE_TOP, _NONE_BOTTOM = np.int16(32_000), np.int16(-1)  # an empty row range
_WICK, _SIDE, _GAP = 0, 1, 2  # roles of the pixel columns of a day's band

EmptyPolicy = Literal["raise", "warn", "allow"]


class BlankChartError(ValueError):
    """A window had no traded day, so its chart would be blank; ``indices`` says which ones."""

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices
        shown = ", ".join(str(i) for i in indices[:10]) + (" …" if len(indices) > 10 else "")
        super().__init__(
            f"{len(indices)} window(s) have no traded day and would render blank (indices {shown}); "
            "drop them upstream, or pass empty='warn'/'allow' and check blank_mask()"
        )


def price_rows(size: int) -> int:
    """Height of the price panel for an image of ``size`` rows (the rest, minus a separator, is volume)."""
    return (3 * size) // 4


def blank_mask(images: np.ndarray) -> np.ndarray:
    """True for each image of a (B, C, H, W) batch that has no lit pixel at all."""
    images = np.asarray(images)
    return ~images.reshape(images.shape[0], -1).any(axis=1)


def rasterize_one(window: np.ndarray, size: int = 64, ma: int = 5, empty: EmptyPolicy = "raise") -> np.ndarray:
    """One (W, 5) OHLCV window → uint8 (3, size, size); see ``rasterize_charts``."""
    window = np.asarray(window, dtype=np.float64)
    if window.ndim != 2:
        raise ValueError(f"expected one (W, {len(PANEL_FIELDS)}) window, got shape {window.shape}")
    return rasterize_charts(window[None], size=size, ma=ma, empty=empty)[0]


def rasterize_charts(windows: np.ndarray, size: int = 64, ma: int = 5, empty: EmptyPolicy = "raise") -> np.ndarray:
    """Draw a batch of OHLCV windows as candlestick images.

    ``windows`` is float (B, W, 5) in ``PANEL_FIELDS`` order (open, high, low, close, volume); rows
    with a NaN price — and raw KRX halt rows, open = high = low = 0 — are days without trade and
    are drawn empty (a halt's zeros would otherwise stretch the price scale down to 0). Returns uint8 (B, 3, size, size)
    with the channels of ``CHANNELS``. Deterministic: the same window always gives the same image.

    A window with at least one traded day always lights pixels in that day's columns. A window with
    none renders all zeros; ``empty`` says what happens then: ``"raise"`` (default) raises
    ``BlankChartError`` naming the windows, ``"warn"`` emits one warning per call, ``"allow"``
    returns quietly for callers that check ``blank_mask`` themselves — never silently by default,
    because a CNN fed zeros trains without complaint on nothing.
    """
    x = _check_windows(windows, size, ma)
    _report_empty(x, empty)
    n, w = x.shape[0], x.shape[1]
    out = np.zeros((n, len(CHANNELS), size, size), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (w * size * 4))  # temporaries scale with days × rows (× columns)
    for start in range(0, n, chunk):  # bounded memory for big batches; each chunk is vectorised
        stop = min(n, start + chunk)
        _draw_chunk(x[start:stop], size, ma, out[start:stop])
    return out


def as_rgb(images: np.ndarray) -> np.ndarray:
    """(…, 3, H, W) channel-first images → (…, H, W, 3) RGB for viewing: red up, green MA, blue down."""
    return np.moveaxis(np.asarray(images), -3, -1)


def _check_windows(windows: np.ndarray, size: int, ma: int) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != len(PANEL_FIELDS) or x.shape[1] < 1:
        raise ValueError(f"expected windows of shape (B, W, {len(PANEL_FIELDS)}) with W ≥ 1, got {x.shape}")
    if int(size) != size or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    if int(ma) != ma or ma < 1:
        raise ValueError(f"ma must be a positive integer, got {ma!r}")
    return x


def _report_empty(x: np.ndarray, empty: EmptyPolicy) -> None:
    if empty not in ("raise", "warn", "allow"):
        raise ValueError(f"empty must be 'raise', 'warn' or 'allow', got {empty!r}")
    blank = np.flatnonzero(~_traded(x).any(axis=1))
    if len(blank) == 0 or empty == "allow":
        return
    err = BlankChartError(blank)
    if empty == "raise":
        raise err
    warnings.warn(str(err), RuntimeWarning, stacklevel=3)


def _traded(x: np.ndarray) -> np.ndarray:
    """(B, W) True where all four prices are finite and the row is not a raw halt (O = H = L = 0)."""
    return np.isfinite(x[:, :, :4]).all(axis=2) & (x[:, :, [OPEN, HIGH, LOW]] != 0).any(axis=2)


def _draw_chunk(x: np.ndarray, size: int, ma: int, out: np.ndarray) -> None:
    """Fill ``out`` (b, 3, size, size) for the windows ``x`` (b, W, 5)."""
    traded = _traded(x)
    to_row = _price_scaler(x, traded, price_rows(size))
    days = {
        "up": traded & (x[:, :, CLOSE] >= x[:, :, OPEN]),
        **_candle_rows(x, traded, to_row),
        "vol_top": _volume_tops(x, traded, size),
        **_ma_rows(x, traded, ma, to_row),
    }
    n_days = x.shape[1]
    if size >= n_days:  # every day has its own columns: draw straight in column space
        _paint(_spread_to_columns(days, size, n_days), size, out)
        return
    per_day = np.zeros((len(x), len(CHANNELS), size, n_days), dtype=np.uint8)
    _paint(days, size, per_day)  # several days per column: draw per day, merge so none disappears
    out[:] = np.maximum.reduceat(per_day, _column_starts(size, n_days), axis=3)


def _paint(cols: dict[str, np.ndarray], size: int, out: np.ndarray) -> None:
    """Draw per-column row ranges (each (b, n_cols)) into the zeroed ``out`` (b, 3, size, n_cols).

    Every step writes into ``out`` in place (``out=``): fresh temporaries of image size cost more
    in page faults than the arithmetic itself.
    """
    n_price = price_rows(size)
    up = cols["up"][:, None, :]
    p_up, p_ma, p_down = (out[:, ch, :n_price] for ch in range(3))
    rows = np.arange(n_price, dtype=np.int16)[None, :, None]  # broadcast over (b, rows, columns)
    # Candle = wick (WICK) with the body (BODY) on top; the ranges nest, so a sum of two terms does it.
    np.multiply(_between(rows, cols["wick_top"], cols["wick_bot"]), np.uint8(WICK), out=p_down)
    np.multiply(_between(rows, cols["body_top"], cols["body_bot"]), np.uint8(BODY - WICK), out=p_up)
    np.add(p_down, p_up, out=p_down)
    np.multiply(p_down, up, out=p_up)  # rising days keep it in the up channel …
    np.subtract(p_down, p_up, out=p_down)  # … falling days in the down channel
    np.multiply(_between(rows, cols["ma_top"], cols["ma_bot"]), np.uint8(MA_PX), out=p_ma)
    vol_rows = np.arange(n_price + 1, size, dtype=np.int16)[None, :, None]
    bars = vol_rows >= cols["vol_top"][:, None, :]
    np.multiply(bars, up * np.uint8(VOLUME_PX), out=out[:, 0, n_price + 1 :])
    np.multiply(bars, ~up * np.uint8(VOLUME_PX), out=out[:, 2, n_price + 1 :])


def _spread_to_columns(days: dict[str, np.ndarray], size: int, n_days: int) -> dict[str, np.ndarray]:
    """Per-day arrays (b, W) → per-pixel-column arrays (b, size) following the day's band layout.

    The wick column keeps the wick; other body columns get a wick equal to the body (so only the
    body shows); the gap column gets nothing but the MA line, which runs through gaps.
    """
    day, role = _column_layout(size, n_days)
    cols = {name: arr[:, day] for name, arr in days.items()}
    side, gap = role == _SIDE, role == _GAP
    cols["wick_top"] = np.where(side, cols["body_top"], cols["wick_top"])
    cols["wick_bot"] = np.where(side, cols["body_bot"], cols["wick_bot"])
    for name, empty in (("wick_top", _NONE_TOP), ("body_top", _NONE_TOP), ("vol_top", size)):
        cols[name] = np.where(gap, np.int16(empty), cols[name])
    return cols


def _between(rows: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """(b, rows, columns) bool: row within [top, bottom] of each (sample, column)."""
    return (rows >= top[:, None, :]) & (rows <= bottom[:, None, :])


def _price_scaler(x: np.ndarray, traded: np.ndarray, n_rows: int):
    """A function price (b, W) → pixel row, scaling each sample to its own traded min–max.

    Rounding is floor(v + 0.5), so the row of a price is predictable (tests rely on it). A flat
    window (max = min) is drawn on the middle row rather than divided by zero.
    """
    prices = x[:, :, :4]
    lo = np.where(traded[:, :, None], prices, np.inf).min(axis=(1, 2))
    hi = np.where(traded[:, :, None], prices, -np.inf).max(axis=(1, 2))
    lo = np.where(np.isfinite(lo), lo, 0.0)[:, None]
    span = np.where(np.isfinite(hi), hi, 0.0)[:, None] - lo
    flat = span <= 0
    scale = np.where(flat, 0.0, (n_rows - 1) / np.where(flat, 1.0, span))
    mid = np.where(flat, n_rows // 2, 0)  # → row (n_rows - 1) // 2

    def to_row(price: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            height = np.clip(np.floor((price - lo) * scale + 0.5) + mid, 0, n_rows - 1)
        return (n_rows - 1 - np.nan_to_num(height)).astype(np.int16)

    return to_row


def _candle_rows(x: np.ndarray, traded: np.ndarray, to_row) -> dict[str, np.ndarray]:
    """Top/bottom pixel rows of body and wick per (sample, day); untraded days get an empty range.

    The wick spans min..max of all four prices, so a faulty row (high below close) still draws a
    wick around its body instead of a body sticking out of it.
    """
    o, c = x[:, :, OPEN], x[:, :, CLOSE]
    prices = x[:, :, [OPEN, HIGH, LOW, CLOSE]]
    with np.errstate(invalid="ignore"):
        tops = (np.maximum(o, c), prices.max(axis=2))
        bottoms = (np.minimum(o, c), prices.min(axis=2))
    body_top, wick_top = (np.where(traded, to_row(p), _NONE_TOP) for p in tops)
    body_bot, wick_bot = (np.where(traded, to_row(p), _NONE_BOTTOM) for p in bottoms)
    return {"body_top": body_top, "body_bot": body_bot, "wick_top": wick_top, "wick_bot": wick_bot}


def _volume_tops(x: np.ndarray, traded: np.ndarray, size: int) -> np.ndarray:
    """First lit row of each day's volume bar (``size`` = no bar); any positive volume gets ≥ 1 row."""
    panel_top = price_rows(size) + 1
    height_px = size - panel_top
    v = np.where(traded, np.nan_to_num(x[:, :, VOLUME], nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    v = np.maximum(v, 0.0)
    vmax = v.max(axis=1, keepdims=True)
    frac = v / np.where(vmax > 0, vmax, 1.0)
    bar = np.where(v > 0, np.maximum(1, np.floor(frac * height_px + 0.5)), 0)
    return (size - bar).astype(np.int16)


def _ma_rows(x: np.ndarray, traded: np.ndarray, ma: int, to_row) -> dict[str, np.ndarray]:
    """Row range of the moving-average line per (sample, day), connected to its neighbours.

    Each day's segment runs from its own MA row to the midpoints shared with the previous and next
    traded day, so consecutive segments meet and the line has no holes at steep moves.
    """
    close = np.where(traded, x[:, :, CLOSE], 0.0)
    csum = np.concatenate([np.zeros((len(x), 1)), np.cumsum(close, axis=1)], axis=1)
    ccnt = np.concatenate([np.zeros((len(x), 1)), np.cumsum(traded, axis=1)], axis=1)
    lag = np.maximum(np.arange(1, x.shape[1] + 1) - ma, 0)
    sums, counts = csum[:, 1:] - csum[:, lag], ccnt[:, 1:] - ccnt[:, lag]
    valid = traded & (counts > 0)
    row = to_row(np.where(valid, sums / np.maximum(counts, 1), np.nan))
    prev_ok = np.zeros_like(valid)
    prev_ok[:, 1:] = valid[:, 1:] & valid[:, :-1]
    mid = np.zeros_like(row)
    mid[:, 1:] = (row[:, 1:] + row[:, :-1]) // 2  # midpoint shared by day d-1 and day d
    mid_prev = np.where(prev_ok, mid, row)
    mid_next = row.copy()
    mid_next[:, :-1] = np.where(prev_ok[:, 1:], mid[:, 1:], row[:, :-1])
    top = np.minimum(row, np.minimum(mid_prev, mid_next))
    bottom = np.maximum(row, np.maximum(mid_prev, mid_next))
    return {"ma_top": np.where(valid, top, _NONE_TOP), "ma_bot": np.where(valid, bottom, _NONE_BOTTOM)}


@lru_cache(maxsize=64)
def _column_layout(size: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """For ``size >= n_days``: each pixel column's day and role (wick, other body column, gap)."""
    starts = np.arange(n_days + 1) * size // n_days
    cols = np.arange(size)
    day = np.searchsorted(starts, cols, side="right") - 1
    width = (starts[1:] - starts[:-1])[day]
    body_width = width - (width >= 3)
    offset = cols - starts[day]
    role = np.where(offset >= body_width, _GAP, np.where(offset == (body_width - 1) // 2, _WICK, _SIDE))
    return _frozen(day), _frozen(role)


@lru_cache(maxsize=64)
def _column_starts(size: int, n_days: int) -> np.ndarray:
    """For ``size < n_days``: the first day drawn in each pixel column."""
    col_of_day = np.arange(n_days) * size // n_days
    return _frozen(np.searchsorted(col_of_day, np.arange(size), side="left"))


def _frozen(a: np.ndarray) -> np.ndarray:
    """Read-only, because cached arrays are shared between calls."""
    a.flags.writeable = False
    return a
