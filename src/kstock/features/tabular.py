"""The 30 daily features of the tree models, computed for the whole panel at once.

Everything is vectorised over tickers and days (pandas rolling windows on a days × tickers frame).
Day t's features use prices up to the close of day t only. Days a ticker did not trade (halts, before
listing) get NaN features — missing, not zero — and the models treat them as missing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kstock.market.tradability import LIMIT_TOLERANCE, bad_moves, daily_limit
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
    "bb_position": ("볼린저밴드 안 위치", "share"), "bb_width": ("볼린저밴드 폭", "level"),
    "ma5_gap": ("5일선 이격", "pct"), "ma20_gap": ("20일선 이격", "pct"), "ma60_gap": ("60일선 이격", "pct"),
    "ma120_gap": ("120일선 이격", "pct"), "volume_ratio_5_20": ("거래량 5일/20일", "ratio"),
    "volume_ratio_1_20": ("당일 거래량/20일 평균", "ratio"), "log_traded_value_20": ("20일 평균 거래대금", "won"),
    "atr_14": ("14일 하루 평균 변동폭(ATR)", "level"), "dist_52w_high": ("52주 고가 대비", "pct"),
    "dist_52w_low": ("52주 저가 대비", "pct"), "range_1d": ("당일 고저폭", "level"),
    "close_location": ("당일 고저 범위 안 종가 위치", "share"), "rel_market_5d": ("시장 대비 5일 수익률", "pct"),
    "rel_market_20d": ("시장 대비 20일 수익률", "pct"), "rel_sector_20d": ("업종 대비 20일 수익률", "pct"),
}  # fmt: skip

#: Warm-up: the longest look-back (52 weeks); earlier days have some features missing.
MAX_LOOKBACK = 250
#: Wilder's RSI period and the MACD's fast, slow and signal EWM spans.
RSI_PERIOD = 14
MACD_SPANS = (12, 26, 9)
#: An exponential average never forgets its first value; after enough days its weight is below this
#: and a window that starts later gives the same feature (see :func:`history_days`).
EWM_TOLERANCE = 1e-12


def history_days(tolerance: float = EWM_TOLERANCE) -> int:
    """Trading days of history day t's features depend on: the longest rolling look-back, or the days
    after which the slowest exponential average's starting value weighs less than ``tolerance``.

    Features computed on a window that starts this many days before t equal (to float32 precision)
    those computed on the whole history — the recent-window serving path relies on it.
    """
    slowest = min(1.0 / RSI_PERIOD, *(2.0 / (span + 1) for span in MACD_SPANS))
    settle = math.ceil(math.log(tolerance) / math.log1p(-slowest))
    return max(MAX_LOOKBACK, max(MACD_SPANS), settle)


@dataclass
class FeatureCube:
    """Features for every (ticker, day): ``values`` is float32 (n_tickers, n_days, n_features)."""

    values: np.ndarray
    codes: list[str]
    dates: np.ndarray
    names: tuple[str, ...] = FEATURE_NAMES

    def at(self, code: str, day: np.datetime64) -> np.ndarray:
        return self.values[self.codes.index(code), int(np.searchsorted(self.dates, day))]


def build_features(panel: Panel, market_close: np.ndarray | None = None) -> FeatureCube:
    """All 30 features for the panel.

    ``market_close`` is the index level aligned to ``panel.dates`` (e.g. KOSPI); without it the
    equal-weighted average return of the panel stands in for the market. A float32 panel gives the
    same features as a float64 one of the same prices: the arithmetic is float64 either way.
    """
    traded = panel.traded
    ohlcv = panel.ohlcv
    close = _ffill(np.asarray(panel.close, dtype=np.float64))
    frame = lambda a: pd.DataFrame(np.asarray(a, dtype=np.float64).T)  # noqa: E731 - days × tickers for pandas
    c = frame(close)
    high, low = frame(ohlcv[:, :, HIGH]), frame(ohlcv[:, :, LOW])
    volume = frame(np.where(traded, ohlcv[:, :, VOLUME], np.nan))
    logret = np.log(c / c.shift(1))
    logret = logret.mask(pd.DataFrame((bad_moves(panel) | ~traded).T))
    mkt = _market_returns(close, traded, market_close, panel.dates)

    # each feature goes into the float32 cube as soon as it is computed and its float64 frame is dropped:
    # holding all 30 float64 frames (then stacking them) costs 30 × tickers × days × 8 bytes at the peak
    values = np.empty((*close.shape, len(FEATURE_NAMES)), dtype=np.float32)
    column = {name: j for j, name in enumerate(FEATURE_NAMES)}

    def put(name: str, x: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        values[:, :, column[name]] = _as_nt(x)
        return x

    rets = {k: put(f"ret_{k}d", c / c.shift(k) - 1) for k in (1, 5, 10, 20, 60, 120)}
    vols = {k: put(f"vol_{k}d", logret.rolling(k, min_periods=max(3, k * 2 // 3)).std()) for k in (5, 20, 60)}
    put("vol_ratio_5_20", vols[5] / vols[20])
    del vols
    put("rsi_14", _rsi(c.diff(), RSI_PERIOD))
    fast, slow, signal = MACD_SPANS
    ema_fast, ema_slow = c.ewm(span=fast, adjust=False).mean(), c.ewm(span=slow, adjust=False).mean()
    macd = put("macd", (ema_fast - ema_slow) / c)
    del ema_fast, ema_slow
    put("macd_hist", macd - macd.ewm(span=signal, adjust=False).mean())
    del macd
    ma20, sd20 = c.rolling(20, min_periods=15).mean(), c.rolling(20, min_periods=15).std()
    put("bb_position", (c - ma20) / (2 * sd20))
    put("bb_width", 4 * sd20 / ma20)
    del ma20, sd20
    for k in (5, 20, 60, 120):
        put(f"ma{k}_gap", c / c.rolling(k, min_periods=max(3, k * 2 // 3)).mean() - 1)
    vol20 = volume.rolling(20, min_periods=10).mean()
    put("volume_ratio_5_20", volume.rolling(5, min_periods=3).mean() / vol20)
    put("volume_ratio_1_20", volume / vol20)
    del vol20
    put("log_traded_value_20", np.log1p((c * volume).rolling(20, min_periods=10).mean()))
    prev = c.shift(1)
    true_range = np.fmax(high - low, np.fmax((high - prev).abs(), (low - prev).abs()))
    put("atr_14", true_range.rolling(14, min_periods=10).mean() / c)
    del prev, true_range
    put("dist_52w_high", c / high.rolling(MAX_LOOKBACK, min_periods=60).max() - 1)
    put("dist_52w_low", c / low.rolling(MAX_LOOKBACK, min_periods=60).min() - 1)
    put("range_1d", (high - low) / c)
    put("close_location", ((c - low) / (high - low)).where(high > low, 0.5))
    cum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(np.log1p(mkt)))])
    for k in (5, 20):
        mret = np.full(len(mkt), np.nan)
        mret[k:] = np.expm1(cum[k + 1:] - cum[1:-k])
        put(f"rel_market_{k}d", rets[k].sub(mret, axis=0))
    put("rel_sector_20d", _sector_relative(rets[20].to_numpy().T, panel.sector_ids, traded))
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
    r[np.abs(r) > daily_limit(dates)[1:] + LIMIT_TOLERANCE] = np.nan
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
