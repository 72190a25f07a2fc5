"""Sector-model inputs: 60-day × 28-feature windows and chart images, gathered per batch (numpy only).

A sample is a (ticker, day t) pair. Its inputs are built when its batch is built, by index gathering
from arrays that already exist — the feature cube (N, T, 30), the OHLCV panel (N, T, 5) and a
(T, 3) calendar table — so no window and no image is ever materialised for the whole data set, and
nothing is written to disk. That removes, by construction, the failures of the earlier design:

* no image files → no file-name mismatch and no memmap of zeros feeding blank charts; the
  rasteriser raises on a window with no traded day, and a sample needs ``min_traded_days`` traded
  days in its window and a trade on day t itself;
* the input width is ``len(WINDOW_FEATURES)``, read by the model from the config it is built with,
  and checked against every batch.

Window features (28): 25 of the 30 tabular features plus 3 calendar features. The five dropped are
the longest look-backs (60–250 days): ``vol_60d``, ``ret_120d``, ``ma120_gap``, ``dist_52w_high``,
``dist_52w_low``. Within a 60-day window they are nearly constant (day-to-day autocorrelation
0.980–0.997 on market_2023_2025, the slowest of the 30 together with the kept
``log_traded_value_20`` — the only size measure, which nothing else shows — and ``bb_width``), and
they are the features most often missing (8–32 % of samples, from their warm-up). The calendar
features are weekday, month and day of month, each scaled to [-1, 1].

Scaling: each market feature is clipped to its 0.5 %–99.5 % quantiles and standardised, with
statistics fitted on training samples only (:class:`WindowScaler`); a missing value (a day without
trade, a warm-up) becomes 0, the training mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.features.candle_raster import rasterize_charts
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.data import ModelData
from kstock.ml.sector.config import SectorConfig

DROPPED_FEATURES: tuple[str, ...] = ("vol_60d", "ret_120d", "ma120_gap", "dist_52w_high", "dist_52w_low")
MARKET_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in DROPPED_FEATURES)
CALENDAR_FEATURES: tuple[str, ...] = ("weekday", "month", "day_of_month")
WINDOW_FEATURES: tuple[str, ...] = MARKET_FEATURES + CALENDAR_FEATURES
N_WINDOW_FEATURES = len(WINDOW_FEATURES)
assert len(MARKET_FEATURES) == 25 and N_WINDOW_FEATURES == 28

_MARKET_INDEX = np.array([FEATURE_NAMES.index(n) for n in MARKET_FEATURES])


@dataclass
class WindowScaler:
    """Clip to training quantiles, then standardise; fitted on training samples only."""

    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, data: ModelData, tickers: np.ndarray, days: np.ndarray, max_rows: int = 200_000,
            seed: int = 0) -> WindowScaler:
        """Statistics of the market features at the given (training) samples; a random subset suffices."""
        if len(tickers) > max_rows:
            pick = np.sort(np.random.default_rng(seed).choice(len(tickers), max_rows, replace=False))
            tickers, days = tickers[pick], days[pick]
        x = data.features.values[tickers, days][:, _MARKET_INDEX].astype(np.float64)
        lo = np.nanquantile(x, 0.005, axis=0)
        hi = np.nanquantile(x, 0.995, axis=0)
        clipped = np.clip(x, lo, hi)
        mean = np.nanmean(clipped, axis=0)
        std = np.nanstd(clipped, axis=0)
        bad = ~np.isfinite(lo) | ~np.isfinite(hi) | ~np.isfinite(mean) | ~(std > 1e-12)
        lo, hi = np.where(bad, 0.0, lo), np.where(bad, 0.0, hi)
        mean, std = np.where(bad, 0.0, mean), np.where(bad, 1.0, std)
        return cls(lo.astype(np.float32), hi.astype(np.float32), mean.astype(np.float32), std.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(..., 25) raw market features → scaled float32, NaN → 0."""
        with np.errstate(invalid="ignore"):
            z = (np.clip(x, self.lo, self.hi) - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: [float(v) for v in getattr(self, k)] for k in ("lo", "hi", "mean", "std")}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> WindowScaler:
        arrays = {k: np.asarray(d[k], dtype=np.float32) for k in ("lo", "hi", "mean", "std")}
        if any(len(a) != len(MARKET_FEATURES) for a in arrays.values()):
            raise ValueError(f"scaler has {len(arrays['mean'])} features, expected {len(MARKET_FEATURES)}")
        return cls(**arrays)


def calendar_table(dates: np.ndarray) -> np.ndarray:
    """(T, 3) float32: weekday (Mon..Fri), month, day of month, each mapped linearly onto [-1, 1]."""
    d = np.asarray(dates, dtype="datetime64[D]")
    weekday = (d.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday → Monday = 0
    months = d.astype("datetime64[M]")
    month = months.astype(np.int64) % 12  # 0..11
    day = (d - months.astype("datetime64[D]")).astype(np.int64)  # 0..30
    table = np.stack([np.minimum(weekday, 4) / 4.0, month / 11.0, day / 30.0], axis=1)
    return (2.0 * table - 1.0).astype(np.float32)


def window_samples(data: ModelData, days: np.ndarray, window: int, min_traded_days: int,
                   need_label: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(ticker, day) index pairs usable as samples on the days of the bool mask ``days``.

    A sample needs what ``ModelData.sample_mask`` asks (common stock, traded that day, features,
    a label when ``need_label``), a full window of history (t ≥ window − 1) and at least
    ``min_traded_days`` traded days in its window — so its chart can never be blank.
    """
    mask = data.sample_mask(np.asarray(days, dtype=bool), need_label=need_label)
    if need_label:
        mask &= np.isfinite(data.labels.three_class)
    mask[:, : window - 1] = False
    traded = data.panel.traded
    csum = np.concatenate([np.zeros((traded.shape[0], 1), dtype=np.int32), np.cumsum(traded, axis=1, dtype=np.int32)],
                          axis=1)
    n_traded = np.zeros(traded.shape, dtype=np.int32)
    n_traded[:, window - 1 :] = csum[:, window:] - csum[:, : csum.shape[1] - window]
    mask &= n_traded >= min_traded_days
    tick, day = np.nonzero(mask)
    order = np.lexsort((tick, day))  # by day, then ticker: a stable, reproducible order
    return tick[order].astype(np.int64), day[order].astype(np.int64)


class WindowSource:
    """Builds model inputs for any batch of (ticker, day) samples from ``data``; nothing is precomputed
    beyond the (T, 3) calendar table."""

    def __init__(self, data: ModelData, scaler: WindowScaler, window: int = 60, img_size: int = 64,
                 ma: int = 5) -> None:
        self.data = data
        self.scaler = scaler
        self.window = window
        self.img_size = img_size
        self.ma = ma
        self.calendar = calendar_table(data.dates)
        self._offsets = np.arange(-window + 1, 1)
        sectors = np.asarray(data.panel.sector_ids, dtype=np.int64)
        self.sector_ids = sectors if len(sectors) == len(data.panel.codes) else np.full(len(data.panel.codes), -1)

    def series(self, tickers: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(B, window, 28) float32: scaled market features then calendar features, oldest day first."""
        idx = days[:, None] + self._offsets  # (B, W)
        if idx.min(initial=0) < 0:
            raise ValueError(f"a sample starts before the data: windows need day ≥ {self.window - 1}")
        raw = self.data.features.values[tickers[:, None, None], idx[:, :, None], _MARKET_INDEX[None, None, :]]
        return np.concatenate([self.scaler.transform(raw), self.calendar[idx]], axis=2)

    def images(self, tickers: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(B, 3, size, size) uint8 charts of the same windows (raises if one would be blank)."""
        idx = days[:, None] + self._offsets
        ohlcv = self.data.panel.ohlcv[tickers[:, None], idx]
        return rasterize_charts(ohlcv, size=self.img_size, ma=self.ma, empty="raise")

    def batch(self, tickers: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series, images, sector ids) for one batch."""
        return self.series(tickers, days), self.images(tickers, days), self.sector_ids[tickers]

    def labels(self, tickers: np.ndarray, days: np.ndarray) -> np.ndarray:
        return self.data.labels.three_class[tickers, days].astype(np.int64)


@dataclass
class Split:
    """Training and validation samples (ticker, day index pairs) and what was fitted on training."""

    source: WindowSource
    train_tickers: np.ndarray
    train_days: np.ndarray
    val_tickers: np.ndarray
    val_days: np.ndarray
    class_weights: np.ndarray  # (3,)
    sector_counts: np.ndarray  # (n_sectors,) training samples per sector
    info: dict[str, Any] = field(default_factory=dict)

    def train_sectors(self) -> np.ndarray:
        return self.source.sector_ids[self.train_tickers]

    def prep_state(self) -> dict[str, Any]:
        """What a checkpoint stores so that a resumed run uses exactly the same preprocessing."""
        return {"scaler": self.source.scaler.to_dict(), "class_weights": [float(w) for w in self.class_weights],
                "sector_counts": [int(c) for c in self.sector_counts], "split": dict(self.info)}


def make_split(data: ModelData, train_days: np.ndarray, config: SectorConfig, horizon: int,
               n_sectors: int = 13) -> Split:
    """Split the training days by date: train | embargo | validation (the last ``val_fraction``)."""
    idx = np.flatnonzero(np.asarray(train_days, dtype=bool))
    embargo = horizon if config.embargo is None else config.embargo
    n_val = max(1, round(len(idx) * config.val_fraction))
    fit_idx, val_idx = idx[: max(0, len(idx) - n_val - embargo)], idx[len(idx) - n_val :]
    fit_mask, val_mask = np.zeros(len(data.dates), bool), np.zeros(len(data.dates), bool)
    fit_mask[fit_idx], val_mask[val_idx] = True, True
    tr_t, tr_d = window_samples(data, fit_mask, config.window, config.min_traded_days)
    va_t, va_d = window_samples(data, val_mask, config.window, config.min_traded_days)
    if len(tr_t) < 100 or len(va_t) < 20:
        raise KstockError(f"sector model: too few samples ({len(tr_t)} training, {len(va_t)} validation) — "
                          f"windows need {config.window} days of history; import more data")
    if len(va_t) > config.val_max_samples:
        pick = np.sort(np.random.default_rng(config.seed + 17).choice(len(va_t), config.val_max_samples,
                                                                       replace=False))
        va_t, va_d = va_t[pick], va_d[pick]
    scaler = WindowScaler.fit(data, tr_t, tr_d, seed=config.seed)
    source = WindowSource(data, scaler, config.window, config.img_size, config.ma)
    y = data.labels.three_class[tr_t, tr_d].astype(int)
    counts = np.bincount(y, minlength=3).astype(float)
    weights = np.where(counts > 0, counts.sum() / (3 * np.maximum(counts, 1)), 0.0)
    sid = source.sector_ids[tr_t]
    sector_counts = np.bincount(sid[sid >= 0], minlength=n_sectors)[:n_sectors]
    d = data.dates
    info = {"train_start": str(d[tr_d.min()]), "train_end": str(d[tr_d.max()]), "val_start": str(d[va_d.min()]),
            "val_end": str(d[va_d.max()]), "embargo_days": int(embargo), "n_train": len(tr_t), "n_val": len(va_t),
            "class_counts": [int(c) for c in counts]}
    return Split(source, tr_t, tr_d, va_t, va_d, weights, sector_counts, info)
