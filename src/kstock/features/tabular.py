"""The 30 daily features of the tree models, computed for the whole panel at once.

Everything is vectorised over tickers and days (pandas rolling windows on a days × tickers frame).
Day t's features use prices up to the close of day t only. Days a ticker did not trade (halts, before
listing) get NaN features — missing, not zero — and the models treat them as missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kstock.market.krx import PRICE_LIMIT, PRICE_LIMIT_CHANGE, PRICE_LIMIT_OLD
from kstock.market.types import HIGH, LOW, VOLUME, Panel

FEATURE_NAMES: tuple[str, ...] = (
    "ret_1d", "ret_5d", "ret_10d", "ret_20d", "ret_60d", "ret_120d",
    "vol_5d", "vol_20d", "vol_60d", "vol_ratio_5_20",
    "rsi_14", "macd", "macd_hist", "bb_position", "bb_width",
    "ma5_gap", "ma20_gap", "ma60_gap", "ma120_gap",
    "volume_ratio_5_20", "volume_ratio_1_20", "log_traded_value_20",
    "atr_14", "dist_52w_high", "dist_52w_low", "range_1d", "close_location",
    "rel_market_5d", "rel_market_20d", "rel_sector_20d",
)  # fmt: skip

#: How a person reads each feature (used by the SHAP reasons): Korean label and value format.
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "ret_1d": ("1일 수익률", "pct"), "ret_5d": ("5일 수익률", "pct"), "ret_10d": ("10일 수익률", "pct"),
    "ret_20d": ("20일 수익률", "pct"), "ret_60d": ("60일 수익률", "pct"), "ret_120d": ("120일 수익률", "pct"),
    "vol_5d": ("5일 변동성", "level"), "vol_20d": ("20일 변동성", "level"), "vol_60d": ("60일 변동성", "level"),
    "vol_ratio_5_20": ("단기/중기 변동성 비율", "ratio"), "rsi_14": ("RSI(14)", "num"),
    "macd": ("MACD", "pct"), "macd_hist": ("MACD 히스토그램", "pct"),
    "bb_position": ("볼린저밴드 위치", "num"), "bb_width": ("볼린저밴드 폭", "level"),
    "ma5_gap": ("5일선 이격", "pct"), "ma20_gap": ("20일선 이격", "pct"), "ma60_gap": ("60일선 이격", "pct"),
    "ma120_gap": ("120일선 이격", "pct"), "volume_ratio_5_20": ("거래량 5일/20일", "ratio"),
    "volume_ratio_1_20": ("당일 거래량/20일 평균", "ratio"), "log_traded_value_20": ("20일 평균 거래대금", "won"),
    "atr_14": ("ATR(14)", "level"), "dist_52w_high": ("52주 고가 대비", "pct"),
    "dist_52w_low": ("52주 저가 대비", "pct"), "range_1d": ("당일 고저폭", "level"),
    "close_location": ("당일 종가 위치", "num"), "rel_market_5d": ("시장 대비 5일 수익률", "pct"),
    "rel_market_20d": ("시장 대비 20일 수익률", "pct"), "rel_sector_20d": ("업종 대비 20일 수익률", "pct"),
}  # fmt: skip

#: Warm-up: the longest look-back (52 weeks); earlier days have some features missing.
MAX_LOOKBACK = 250


@dataclass
class FeatureCube:
    """Features for every (ticker, day): ``values`` is float32 (n_tickers, n_days, n_features)."""

    values: np.ndarray
    codes: list[str]
    dates: np.ndarray
    names: tuple[str, ...] = FEATURE_NAMES

    def at(self, code: str, day: np.datetime64) -> np.ndarray:
        return self.values[self.codes.index(code), int(np.searchsorted(self.dates, day))]


def bad_moves(panel: Panel) -> np.ndarray:
    """Days whose close-to-close move exceeds the price limit: an unadjusted split or a data fault.

    The limit is the one in force on the day of the move: ±15 % before 2015-06-15, ±30 % after.
    Such moves are not returns (DESIGN §4); labels that span them are dropped.
    """
    close = _ffill(panel.close)
    with np.errstate(invalid="ignore", divide="ignore"):
        move = close[:, 1:] / close[:, :-1] - 1.0
    out = np.zeros_like(close, dtype=bool)
    out[:, 1:] = np.abs(np.nan_to_num(move)) > _daily_limit(panel.dates)[1:] + 0.005
    return out


def _daily_limit(dates: np.ndarray) -> np.ndarray:
    """The KRX daily price limit in force on each day."""
    change = np.datetime64(PRICE_LIMIT_CHANGE, "D")
    return np.where(np.asarray(dates, dtype="datetime64[D]") >= change, PRICE_LIMIT, PRICE_LIMIT_OLD)


def build_features(panel: Panel, market_close: np.ndarray | None = None) -> FeatureCube:
    """All 30 features for the panel.

    ``market_close`` is the index level aligned to ``panel.dates`` (e.g. KOSPI); without it the
    equal-weighted average return of the panel stands in for the market.
    """
    traded = panel.traded
    close = _ffill(panel.close)
    frame = lambda a: pd.DataFrame(a.T)  # noqa: E731 - days × tickers for pandas rolling
    c = frame(close)
    high, low = frame(panel.ohlcv[:, :, HIGH]), frame(panel.ohlcv[:, :, LOW])
    volume = frame(np.where(traded, panel.ohlcv[:, :, VOLUME], np.nan))
    logret = np.log(c / c.shift(1))
    logret = logret.mask(frame(bad_moves(panel)) | ~frame(traded))
    mkt = _market_returns(close, traded, market_close, panel.dates)

    f: dict[str, pd.DataFrame] = {}
    for k in (1, 5, 10, 20, 60, 120):
        f[f"ret_{k}d"] = c / c.shift(k) - 1
    for k in (5, 20, 60):
        f[f"vol_{k}d"] = logret.rolling(k, min_periods=max(3, k * 2 // 3)).std()
    f["vol_ratio_5_20"] = f["vol_5d"] / f["vol_20d"]
    f["rsi_14"] = _rsi(c.diff(), 14)
    ema12, ema26 = c.ewm(span=12, adjust=False).mean(), c.ewm(span=26, adjust=False).mean()
    macd = (ema12 - ema26) / c
    f["macd"] = macd
    f["macd_hist"] = macd - macd.ewm(span=9, adjust=False).mean()
    ma20, sd20 = c.rolling(20, min_periods=15).mean(), c.rolling(20, min_periods=15).std()
    f["bb_position"] = (c - ma20) / (2 * sd20)
    f["bb_width"] = 4 * sd20 / ma20
    for k in (5, 20, 60, 120):
        f[f"ma{k}_gap"] = c / c.rolling(k, min_periods=max(3, k * 2 // 3)).mean() - 1
    vol20 = volume.rolling(20, min_periods=10).mean()
    f["volume_ratio_5_20"] = volume.rolling(5, min_periods=3).mean() / vol20
    f["volume_ratio_1_20"] = volume / vol20
    f["log_traded_value_20"] = np.log1p((c * volume).rolling(20, min_periods=10).mean())
    prev = c.shift(1)
    true_range = np.fmax(high - low, np.fmax((high - prev).abs(), (low - prev).abs()))
    f["atr_14"] = true_range.rolling(14, min_periods=10).mean() / c
    f["dist_52w_high"] = c / high.rolling(MAX_LOOKBACK, min_periods=60).max() - 1
    f["dist_52w_low"] = c / low.rolling(MAX_LOOKBACK, min_periods=60).min() - 1
    f["range_1d"] = (high - low) / c
    f["close_location"] = ((c - low) / (high - low)).where(high > low, 0.5)
    cum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(np.log1p(mkt)))])
    for k in (5, 20):
        mret = np.full(len(mkt), np.nan)
        mret[k:] = np.expm1(cum[k + 1:] - cum[1:-k])
        f[f"rel_market_{k}d"] = f[f"ret_{k}d"].sub(mret, axis=0)
    f["rel_sector_20d"] = _sector_relative(f["ret_20d"].to_numpy().T, panel.sector_ids, traded)

    # filled one feature at a time (and each float64 frame dropped once copied) rather than stacked:
    # a float64 stack of the whole market doubles the peak memory of every scoring and retrain
    values = np.empty((*close.shape, len(FEATURE_NAMES)), dtype=np.float32)
    for j, name in enumerate(FEATURE_NAMES):
        values[:, :, j] = _as_nt(f.pop(name))
    values[~traded] = np.nan
    values[~np.isfinite(values)] = np.nan
    return FeatureCube(values=values, codes=list(panel.codes), dates=panel.dates)


def _as_nt(x: pd.DataFrame | np.ndarray) -> np.ndarray:
    return x.to_numpy().T if isinstance(x, pd.DataFrame) else x


def _ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along the days axis of an (n_tickers, n_days) array."""
    return pd.DataFrame(a.T).ffill().to_numpy().T


def _rsi(delta: pd.DataFrame, n: int) -> pd.DataFrame:
    """Wilder's RSI = 100 · gain / (gain + loss): 100 after only rises, 0 after only falls, 50 when flat."""
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    total = gain + loss
    return (100 * gain / total.where(total > 0)).mask(total == 0, 50.0)


def _market_returns(
    close: np.ndarray, traded: np.ndarray, market_close: np.ndarray | None, dates: np.ndarray
) -> np.ndarray:
    """Daily market returns: the index when given, else the panel's equal-weighted mean."""
    if market_close is not None and np.isfinite(market_close).sum() > 1:
        level = pd.Series(market_close).ffill().to_numpy()
        out = np.full(len(level), np.nan)
        out[1:] = level[1:] / level[:-1] - 1
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        r = close[:, 1:] / close[:, :-1] - 1
    r[~traded[:, 1:]] = np.nan
    r[np.abs(r) > _daily_limit(dates)[1:] + 0.005] = np.nan
    out = np.full(close.shape[1], np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        out[1:] = np.nanmean(r, axis=0)
    return out


def _sector_relative(values: np.ndarray, sector_ids: np.ndarray, traded: np.ndarray) -> np.ndarray:
    """Each ticker's value minus its sector's same-day mean (unknown sector: the market's mean)."""
    x = np.where(traded, values, np.nan)
    out = np.full_like(x, np.nan)
    sectors = sector_ids if len(sector_ids) == len(x) else np.full(len(x), -1)
    with _quiet():
        market_mean = np.nanmean(x, axis=0)
        for s in np.unique(sectors):
            rows = sectors == s
            mean = market_mean if s < 0 or rows.sum() < 3 else np.nanmean(x[rows], axis=0)
            out[rows] = x[rows] - mean
    return out


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' warnings: all-NaN columns are expected (holidays, warm-up)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield
