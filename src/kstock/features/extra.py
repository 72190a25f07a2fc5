"""Extra daily features: information the seed's 30 lack, as a second named set the tree models may use.

The seed's :data:`~kstock.features.tabular.FEATURE_NAMES` stay as they are (the seed's API and the
LSTM read them); a tree model trained with ``TreeParams(feature_set="extra")`` reads these as well.
What they add: market- and sector-relative moves at more horizons, the sector's own momentum, the
overnight (close → next open) and intraday (open → close) parts of the return, turnover shocks, the
largest daily gain of the month, the 60-day beta and the market's regime (its trend, volatility,
breadth and cross-sectional dispersion — the same value for every ticker on a day, so the trees can
condition the other features on it).

Day t's features use prices up to the close of day t only (the open of day t is known by then);
the longest look-back is 120 + 60 days, inside the 52-week warm-up of the 30, so the recent-window
serving path computes them exactly as the whole history does. Days a ticker did not trade are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kstock.features.tabular import (
    FeatureCube,
    _as_nt,
    _ffill,
    _market_returns,
    _quiet,
    _sector_relative,
    bad_moves,
)
from kstock.market.types import OPEN, VOLUME, Panel

EXTRA_FEATURE_NAMES: tuple[str, ...] = (
    "rel_market_1d", "rel_market_60d", "rel_market_120d",
    "rel_sector_1d", "rel_sector_5d", "rel_sector_60d", "sector_vs_market_20d",
    "overnight_1d", "intraday_1d", "overnight_20d", "intraday_20d",
    "turnover_shock_1_60", "turnover_shock_5_60", "max_ret_20d", "beta_60d",
    "mkt_ret_20d", "mkt_vol_20d", "mkt_breadth_ma20", "mkt_dispersion_20d",
)  # fmt: skip

#: Korean label and value format of each extra feature (the SHAP reasons read them like the 30's).
EXTRA_FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "rel_market_1d": ("시장 대비 1일 수익률", "pct"), "rel_market_60d": ("시장 대비 60일 수익률", "pct"),
    "rel_market_120d": ("시장 대비 120일 수익률", "pct"), "rel_sector_1d": ("업종 대비 1일 수익률", "pct"),
    "rel_sector_5d": ("업종 대비 5일 수익률", "pct"), "rel_sector_60d": ("업종 대비 60일 수익률", "pct"),
    "sector_vs_market_20d": ("업종의 시장 대비 20일 수익률", "pct"), "overnight_1d": ("당일 시초 갭", "pct"),
    "intraday_1d": ("당일 장중 수익률", "pct"), "overnight_20d": ("20일 누적 시초 갭", "pct"),
    "intraday_20d": ("20일 누적 장중 수익률", "pct"), "turnover_shock_1_60": ("당일 거래대금/60일 평균", "logratio"),
    "turnover_shock_5_60": ("5일 거래대금/60일 평균", "logratio"), "max_ret_20d": ("20일 중 최대 일간 상승", "pct"),
    "beta_60d": ("60일 시장 베타", "num"), "mkt_ret_20d": ("시장 20일 수익률", "pct"),
    "mkt_vol_20d": ("시장 20일 변동성", "level"), "mkt_breadth_ma20": ("20일선 위 종목 비율", "share"),
    "mkt_dispersion_20d": ("종목 간 20일 수익률 분산", "level"),
}  # fmt: skip


def build_extra_features(panel: Panel, market_close: np.ndarray | None = None) -> FeatureCube:
    """The extra features for the whole panel (float32 cube, NaN where a ticker did not trade)."""
    traded = panel.traded
    close = _ffill(np.asarray(panel.close, dtype=np.float64))
    frame = lambda a: pd.DataFrame(np.asarray(a, dtype=np.float64).T)  # noqa: E731 - days × tickers
    c = frame(close)
    bad = pd.DataFrame((bad_moves(panel) | ~traded).T)
    logret = np.log(c / c.shift(1)).mask(bad)
    values = np.empty((*close.shape, len(EXTRA_FEATURE_NAMES)), dtype=np.float32)
    column = {name: j for j, name in enumerate(EXTRA_FEATURE_NAMES)}

    def put(name: str, x: pd.DataFrame | np.ndarray) -> None:
        values[:, :, column[name]] = _as_nt(x)

    ret20 = _put_relative(put, panel, c, close, market_close)
    with _quiet():
        sector_mean = ret20 - _sector_relative(ret20, panel.sector_ids, traded)
        put("sector_vs_market_20d", sector_mean - np.nanmean(ret20, axis=0))
    _put_gaps(put, panel, c, bad)
    _put_turnover(put, c, frame(np.where(traded, panel.ohlcv[:, :, VOLUME], np.nan)))
    put("max_ret_20d", np.expm1(logret.rolling(20, min_periods=10).max()))
    ew = _market_returns(close, traded, None, panel.dates)  # the panel's own market: always present
    put("beta_60d", _beta(logret, np.log1p(ew), 60))
    _put_regime(put, c, ret20, ew, traded)
    values[~traded] = np.nan
    values[~np.isfinite(values)] = np.nan
    return FeatureCube(values=values, codes=list(panel.codes), dates=panel.dates, names=EXTRA_FEATURE_NAMES)


def _put_relative(put, panel: Panel, c: pd.DataFrame, close: np.ndarray, market_close: np.ndarray | None) -> np.ndarray:
    """The k-day returns against the market and the sector; returns the 20-day return (tickers × days).

    One k at a time, each dropped once written: the daily scoring computes these for the whole market,
    and five (days × tickers) float64 frames alive at once were the largest part of its peak memory."""
    traded = panel.traded
    # a k-day return across a move beyond the price limit (an unadjusted split) is not a return: NaN, as the
    # labels drop it — else one 15:1 reverse split sets every name's market dispersion for 20 days
    breaks = pd.DataFrame(bad_moves(panel).T).astype(float)
    index_ret = _market_returns(close, traded, market_close, panel.dates)
    ret20 = None
    for k in (1, 5, 20, 60, 120):
        ret = (c / c.shift(k) - 1).mask(breaks.rolling(k, min_periods=1).max() > 0)
        if k in (1, 60, 120):
            put(f"rel_market_{k}d", ret.sub(_compound(index_ret, k), axis=0))
        if k in (1, 5, 60):
            put(f"rel_sector_{k}d", _sector_relative(ret.to_numpy().T, panel.sector_ids, traded))
        if k == 20:
            ret20 = np.where(traded, ret.to_numpy().T, np.nan)
        del ret
    return ret20


def _compound(daily: np.ndarray, k: int) -> np.ndarray:
    """The k-day compounded return ending on each day (NaN for the first k days)."""
    cum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(np.log1p(daily)))])
    out = np.full(len(daily), np.nan)
    out[k:] = np.expm1(cum[k + 1:] - cum[1:-k])
    return out


def _put_gaps(put, panel: Panel, c: pd.DataFrame, bad: pd.DataFrame) -> None:
    """Overnight (previous close → open) and intraday (open → close) returns, today and summed over 20 days."""
    opened = pd.DataFrame(np.where(panel.traded, panel.ohlcv[:, :, OPEN], np.nan).T.astype(np.float64))
    opened = opened.where(opened > 0)
    overnight = np.log(opened / c.shift(1)).mask(bad)
    intraday = np.log(c / opened).mask(bad)
    put("overnight_1d", np.expm1(overnight))
    put("intraday_1d", np.expm1(intraday))
    put("overnight_20d", overnight.rolling(20, min_periods=10).sum())
    put("intraday_20d", intraday.rolling(20, min_periods=10).sum())


def _put_turnover(put, c: pd.DataFrame, volume: pd.DataFrame) -> None:
    """Traded value today and over 5 days against its 60-day average (log ratios): attention shocks."""
    value = c * volume
    base = value.rolling(60, min_periods=30).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        put("turnover_shock_1_60", np.log(value / base))
        put("turnover_shock_5_60", np.log(value.rolling(5, min_periods=3).mean() / base))


def _beta(logret: pd.DataFrame, market: np.ndarray, n: int) -> pd.DataFrame:
    """Rolling beta of each ticker's daily log return on the market's, over the days the ticker traded."""
    m = pd.DataFrame(np.broadcast_to(market[:, None], logret.shape).copy()).where(logret.notna())
    mean = lambda x: x.rolling(n, min_periods=n * 2 // 3).mean()  # noqa: E731
    mm = mean(m)
    var = mean(m * m) - mm * mm
    return ((mean(logret * m) - mean(logret) * mm) / var).where(var > 1e-10)


def _put_regime(put, c: pd.DataFrame, ret20: np.ndarray, ew: np.ndarray, traded: np.ndarray) -> None:
    """The market's state on each day, the same for every ticker: trend, volatility, breadth, dispersion."""
    n = ret20.shape[0]
    daily = pd.Series(ew)
    above = (c > c.rolling(20, min_periods=15).mean()).to_numpy().T.astype(float)
    above[~traded | np.isnan(ret20)] = np.nan
    with _quiet():
        regime = {
            "mkt_ret_20d": _compound(ew, 20),
            "mkt_vol_20d": daily.rolling(20, min_periods=15).std().to_numpy(),
            "mkt_breadth_ma20": np.nanmean(above, axis=0),
            "mkt_dispersion_20d": np.nanstd(ret20, axis=0),
        }
    for name, per_day in regime.items():
        put(name, np.broadcast_to(per_day[None, :], (n, len(per_day))))
