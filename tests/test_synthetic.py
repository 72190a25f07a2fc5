"""The synthetic market: deterministic, KRX-shaped, and carrying modest learnable structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kstock.market.krx import tick_size
from kstock.market.synthetic import HOLIDAYS_MMDD, generate_market, trading_days
from kstock.market.types import InstrumentKind, Market, MarketData


@pytest.fixture(scope="module")
def md() -> MarketData:
    return generate_market()


@pytest.fixture(scope="module")
def traded(md: MarketData) -> pd.DataFrame:
    """Non-halt rows."""
    return md.prices[md.prices["volume"] > 0]


def _commons(md: MarketData) -> set[str]:
    return {t.code for t in md.tickers if t.kind == InstrumentKind.COMMON}


def _wide(md: MarketData, field: str) -> pd.DataFrame:
    """Commons only, dates × codes, halt days NaN (as the panel sees them)."""
    p = md.prices[md.prices["code"].isin(_commons(md))]
    p = p.assign(close=p["close"].where(p["volume"] > 0))
    return p.pivot(index="date", columns="code", values=field)


def _rank_ic(signal: pd.DataFrame, forward: pd.DataFrame, min_names: int = 20) -> float:
    """Mean daily cross-sectional Spearman correlation (rank both, Pearson of the ranks per row)."""
    ok = signal.notna() & forward.notna()
    a, b = signal.where(ok).rank(axis=1), forward.where(ok).rank(axis=1)
    a, b = a.sub(a.mean(axis=1), axis=0), b.sub(b.mean(axis=1), axis=0)
    ic = (a * b).sum(axis=1) / np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    return float(ic[ok.sum(axis=1) >= min_names].mean())


def _zscore(x: pd.DataFrame) -> pd.DataFrame:
    return x.sub(x.mean(axis=1), axis=0).div(x.std(axis=1), axis=0)


def test_same_seed_gives_identical_data() -> None:
    a, b = generate_market(40, 1.0, seed=3), generate_market(40, 1.0, seed=3)
    assert a.tickers == b.tickers
    pd.testing.assert_frame_equal(a.prices, b.prices)
    for name in ("KOSPI", "KOSDAQ"):
        pd.testing.assert_frame_equal(a.indices[name], b.indices[name])


def test_different_seed_gives_different_data() -> None:
    a, b = generate_market(40, 1.0, seed=3), generate_market(40, 1.0, seed=4)
    assert [t.code for t in a.tickers] != [t.code for t in b.tickers]
    assert not a.indices["KOSPI"]["close"].equals(b.indices["KOSPI"]["close"])


def test_frame_shapes_and_types(md: MarketData) -> None:
    p = md.prices
    assert list(p.columns) == ["code", "date", "open", "high", "low", "close", "volume"]
    assert p["date"].dtype == "datetime64[ns]"
    assert (p["date"] == p["date"].dt.normalize()).all()
    assert pd.api.types.is_integer_dtype(p["volume"]) and (p["volume"] >= 0).all()
    assert not p.duplicated(["code", "date"]).any()
    assert len(md.tickers) == 100 and set(p["code"]) == {t.code for t in md.tickers}
    assert p["date"].max() <= pd.Timestamp("2025-06-30")
    assert 700 < p["date"].nunique() < 780  # three years of KRX-like trading days
    for name, start in (("KOSPI", 2_500), ("KOSDAQ", 850)):
        idx = md.indices[name]
        assert list(idx.columns) == ["date", "open", "high", "low", "close"]
        assert idx["close"].iloc[0] == pytest.approx(start, rel=0.01)
        assert (idx["low"] <= idx[["open", "close"]].min(axis=1)).all()
        assert (idx["high"] >= idx[["open", "close"]].max(axis=1)).all()


def test_trading_days_skip_weekends_and_fixed_holidays() -> None:
    days = pd.DatetimeIndex(trading_days("2023-01-01", "2024-12-31"))
    assert (days.dayofweek < 5).all()
    assert not set(days.strftime("%m-%d")) & set(HOLIDAYS_MMDD)
    assert 240 <= len(days) / 2 <= 255


def test_codes_are_six_digits_and_unique(md: MarketData) -> None:
    codes = [t.code for t in md.tickers]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    names = [t.name for t in md.tickers]
    assert len(set(names)) == len(names)
    assert all(t.name_en for t in md.tickers)


def test_reference_names_are_present(md: MarketData) -> None:
    by_code = {t.code: t for t in md.tickers}
    expected = {"005930": ("삼성전자", 0), "000660": ("SK하이닉스", 0), "035420": ("NAVER", 2),
                "035720": ("카카오", 2), "068270": ("셀트리온", 3), "105560": ("KB금융", 1)}
    for code, (name, sector) in expected.items():
        t = by_code[code]
        assert (t.name, t.sector_id, t.kind, t.market) == (name, sector, InstrumentKind.COMMON, Market.KOSPI)
    assert by_code["005935"].name == "삼성전자우" and by_code["005935"].kind == InstrumentKind.PREFERRED
    assert by_code["069500"].name == "KODEX 200" and by_code["102110"].name == "TIGER 200"


def test_markets_and_all_sectors_among_commons(md: MarketData) -> None:
    commons = [t for t in md.tickers if t.kind == InstrumentKind.COMMON]
    markets = [t.market for t in md.tickers]
    assert set(markets) == {Market.KOSPI, Market.KOSDAQ}
    assert 0.3 <= markets.count(Market.KOSPI) / len(markets) <= 0.5
    assert {t.sector_id for t in commons} == set(range(13))


def test_non_common_instruments(md: MarketData) -> None:
    kinds = {t.kind for t in md.tickers}
    assert {InstrumentKind.ETF, InstrumentKind.PREFERRED, InstrumentKind.SPAC, InstrumentKind.REIT} <= kinds
    by_code = {t.code: t for t in md.tickers}
    for pref in (t for t in md.tickers if t.kind == InstrumentKind.PREFERRED):
        common = by_code[pref.code[:5] + "0"]
        assert pref.code.endswith("5") and pref.name == common.name + "우"
        assert common.kind == InstrumentKind.COMMON and common.market == Market.KOSPI
    assert any("스팩" in t.name for t in md.tickers if t.kind == InstrumentKind.SPAC)
    assert any(t.name.endswith("리츠") for t in md.tickers if t.kind == InstrumentKind.REIT)


def test_ohlc_consistent_and_on_ticks(traded: pd.DataFrame) -> None:
    o, h, low, c = (traded[k].to_numpy() for k in ("open", "high", "low", "close"))
    assert (low <= o).all() and (o <= h).all() and (low <= c).all() and (c <= h).all()
    assert (low > 0).all()
    for values in (o, h, low, c):
        assert (np.mod(values, tick_size(values)) == 0).all()
    assert 1_000 * 0.05 < np.median(c) < 500_000


def test_daily_moves_within_price_limit(md: MarketData) -> None:
    p = md.prices.sort_values(["code", "date"])
    ret = p.groupby("code")["close"].pct_change().dropna()
    assert (ret.abs() <= 0.30 + 1e-9).all()
    assert (ret.abs() >= 0.29).sum() >= 1  # some days end at the limit


def test_halt_rows_have_krx_shape(md: MarketData) -> None:
    p = md.prices.sort_values(["code", "date"]).reset_index(drop=True)
    prev_close = p.groupby("code")["close"].shift()
    halt = p["volume"] == 0
    assert halt.sum() > 0 and p.loc[halt, "code"].nunique() >= 2
    assert (p.loc[halt, ["open", "high", "low"]] == 0).all().all()
    assert (p.loc[halt, "close"] == prev_close[halt]).all()
    spells = (halt != halt.shift()).cumsum()[halt]
    assert spells.value_counts().between(1, 10).all()


def test_mid_period_listing_and_delisting(md: MarketData) -> None:
    first, last = md.prices["date"].min(), md.prices["date"].max()
    span = md.prices.groupby("code")["date"].agg(["min", "max"])
    late = [t for t in md.tickers if t.listing_date and pd.Timestamp(t.listing_date) > first]
    gone = [t for t in md.tickers if t.delisting_date]
    assert late and gone
    for t in late:
        assert span.loc[t.code, "min"] == pd.Timestamp(t.listing_date)
    for t in gone:
        assert span.loc[t.code, "max"] < pd.Timestamp(t.delisting_date) < last


def test_sector_comovement_and_volume_follow_moves(md: MarketData) -> None:
    ret = _wide(md, "close").pct_change(fill_method=None)
    sector = {t.code: t.sector_id for t in md.tickers}
    corr = ret.corr().to_numpy()
    same = np.equal.outer(*(np.array([sector[c] for c in ret.columns]),) * 2)
    off_diag = ~np.eye(len(corr), dtype=bool)
    assert np.nanmean(corr[same & off_diag]) > np.nanmean(corr[~same]) + 0.05
    volume = _wide(md, "volume").where(lambda v: v > 0)
    log_ratio = np.log(volume / volume.rolling(20, min_periods=10).mean())
    assert _rank_ic(ret.abs(), log_ratio, min_names=20) > 0.1


@pytest.mark.parametrize("seed", [7, 11])
def test_planted_structure_is_learnable_but_modest(seed: int) -> None:
    md = generate_market(seed=seed)
    close = _wide(md, "close")
    forward = close.shift(-5) / close - 1
    momentum, reversal = close.pct_change(20, fill_method=None), -close.pct_change(5, fill_method=None)
    combined = _zscore(momentum) + _zscore(reversal)
    ic = {name: _rank_ic(s, forward) for name, s in
          (("mom20", momentum), ("rev5", reversal), ("combined", combined))}
    print(f"seed {seed} 5-day rank IC: " + ", ".join(f"{k} {v:+.3f}" for k, v in ic.items()))
    assert 0.02 < ic["combined"] < 0.25



def test_too_small_universe_is_refused() -> None:
    with pytest.raises(ValueError, match="n_tickers"):
        generate_market(10)
