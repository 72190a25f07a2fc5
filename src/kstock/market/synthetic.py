"""A deterministic KRX-like market with planted, learnable structure (DESIGN §2, "Synthetic market").

It is the embedded default data source: the demo and the tests run on it with no network, and a model
trained on it must find *something*, so the returns carry modest structure that standard technical
features can see at a five-day horizon, and nothing more:

* **market, KOSDAQ and sector factors** — stocks of a sector move together, KOSDAQ has its own factor;
* **a persistent per-stock drift** (AR(1), half-life of months) — partly revealed by 20–60 day momentum;
* **regimes** — a market-wide two-state chain switches between a *momentum* state (drift strong) and a
  *mean-reversion* state, in which part of each idiosyncratic 1–5 day move is given back over the next
  five days;
* **information events** — a jump on abnormal volume that keeps drifting the same way for two weeks, so a
  high-volume move continues where a quiet one reverts.

Volatility is heteroskedastic (a market volatility regime and a per-stock AR(1) log-vol), fat-tailed,
and the prices obey KRX mechanics: tick sizes, ±30 % limits (some days end at the limit), halts written
as KRX writes them (open=high=low=0, volume=0, close carried forward). Calibrated so a simple combined
signal has a daily Rank IC of roughly 0.05–0.15 against the 5-day forward return — real but modest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from kstock.market.krx import PRICE_LIMIT, round_to_tick, tick_size
from kstock.market.row_checks import require_sane
from kstock.market.synthetic_universe import N_REFERENCE, N_SECTORS, Listing, build_universe
from kstock.market.types import InstrumentKind, Market, MarketData

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

#: Fixed-date KRX closures (month-day); lunar holidays are left out, the calendar only needs to look right.
HOLIDAYS_MMDD = ("01-01", "03-01", "05-05", "08-15", "10-03", "10-09", "12-25", "12-31")
INDEX_START = {"KOSPI": 2_500.0, "KOSDAQ": 850.0}
#: Instruments per long-frame slice written to the store: ~1.5M rows over 25 years, a few hundred MB.
_CHUNK_TICKERS = 250

_DRIFT_SD = 0.0018  # stationary sd of the per-stock daily drift
_DRIFT_PHI = 1 - 1 / 120  # drift persistence (half-life ~ 80 trading days)
_REGIME_SWITCH = 1 / 60  # daily probability of switching regime
_REVERSAL = (0.0, 0.45)  # fraction of past 5-day idiosyncratic moves given back: momentum / reversal state
_DRIFT_SCALE = (1.6, 0.5)  # drift multiplier: momentum / reversal state
_EVENT_PROB = 0.01  # daily probability of an information event per common stock
_EVENT_SCALE = 0.045  # Laplace scale of the event jump
_PULL = 0.01  # pull per unit of log excursion beyond the band (see _excursion_pull)
_EVENT_CARRY, _EVENT_DAYS = 0.5, 10  # fraction of the jump that follows, over how many days


@dataclass
class _Factors:
    """Market-wide series, one value per trading day."""

    vol: np.ndarray  # market volatility multiplier
    market: np.ndarray
    kosdaq: np.ndarray
    sectors: np.ndarray  # (N_SECTORS, T)
    reversal: np.ndarray  # reversal strength per day (regime)
    drift_scale: np.ndarray


@dataclass
class _Params:
    """Per-instrument loadings and levels (arrays of length N)."""

    beta: np.ndarray
    sector_load: np.ndarray
    sector: np.ndarray  # sector id, 0 where the instrument has none (its load is then 0)
    kosdaq: np.ndarray  # KOSDAQ factor loading
    sigma: np.ndarray  # base idiosyncratic daily vol
    structured: np.ndarray  # bool: commons carry drift, reversal and events
    traded_value: np.ndarray  # typical daily traded value, KRW


def generate_market(n_tickers: int = 100, years: float = 3.0, seed: int = 7, end: str = "2025-06-30") -> MarketData:
    """A synthetic KRX market of about ``n_tickers`` instruments over ``years`` years ending at ``end``.

    Deterministic: the same arguments give identical frames. ``prices`` is long format (code, date,
    open, high, low, close, volume); ``indices`` holds "KOSPI" and "KOSDAQ" (date, open, high, low, close).
    """
    sim = _simulate(n_tickers, years, seed, end)
    prices = pd.concat(list(sim.price_chunks()), ignore_index=True)
    return MarketData([li.ticker for li in sim.listings], prices, sim.indices)


def write_market(store: MarketStore, n_tickers: int = 100, years: float = 3.0, seed: int = 7,
                 end: str = "2025-06-30", source: str | None = None,
                 until: str | None = None) -> tuple[MarketData, int, int]:
    """:func:`generate_market` straight into ``store``, a slice of tickers at a time, in one transaction.

    The same rows as ``store.ingest(generate_market(...))`` — only those dated up to ``until`` when it
    is given — without ever holding the whole long frame (and its row tuples) in memory: the full
    market over 25 years is 17.6M rows. Returns the market's tickers and written indices (``prices``
    left empty), the price rows written and the rows changed.
    """
    sim = _simulate(n_tickers, years, seed, end)
    last = pd.Timestamp(until) if until is not None else None
    cut = (lambda f: f) if last is None else (lambda f: f.loc[f["date"] <= last].reset_index(drop=True))
    market = MarketData([li.ticker for li in sim.listings], pd.DataFrame(), {k: cut(v) for k, v in sim.indices.items()})
    chunks = (require_sane(cut(chunk), "synthetic") for chunk in sim.price_chunks())  # a bad row is a bug here
    rows, changed = store.ingest_chunks(market, chunks, source=source or f"synthetic:seed={seed}")
    return market, rows, changed


@dataclass
class _Simulation:
    """The simulated market as (instruments × days) arrays, turned into long rows slice by slice."""

    listings: list[Listing]
    days: np.ndarray
    listed: np.ndarray
    halted: np.ndarray
    bars: tuple[np.ndarray, ...]  # opens, highs, lows, close, volume
    indices: dict[str, pd.DataFrame]

    def price_chunks(self, tickers_per_chunk: int | None = None) -> Iterator[pd.DataFrame]:
        """Long price frames sorted by code and date, ``tickers_per_chunk`` codes each."""
        step = tickers_per_chunk or _CHUNK_TICKERS
        codes = np.array([li.ticker.code for li in self.listings])
        order = np.argsort(codes, kind="stable")
        for at in range(0, len(order), step):
            yield _long_frame(codes, order[at : at + step], self.days, self.listed, self.halted, *self.bars)


def _simulate(n_tickers: int, years: float, seed: int, end: str) -> _Simulation:
    if years <= 0:
        raise ValueError("years must be positive")
    rng = np.random.default_rng(seed)
    last = np.datetime64(end, "D")
    days = trading_days(last - np.timedelta64(round(years * 365.25), "D"), last)
    listings = build_universe(n_tickers, rng, days)
    params = _params(listings, rng)
    factors = _factors(rng, len(days))
    systematic, returns, shock, events = _returns(rng, listings, params, factors)
    del factors
    listed = _listed_mask(listings, days)
    halted = _halts(rng, listings, listed, returns)
    start = round_to_tick(np.array([li.start_price for li in listings]))
    close, prev, upper, lower = _close_path(start, returns, halted)
    opens, highs, lows = _bars(rng, close, prev, upper, lower, returns, shock)
    del prev, upper, lower, returns
    volume = _volumes(rng, params, close, shock, events)
    del shock, events
    indices = _indices(rng, listings, days, systematic)
    return _Simulation(listings, days, listed, halted, (opens, highs, lows, close, volume), indices)


def trading_days(first: np.datetime64 | str, last: np.datetime64 | str) -> np.ndarray:
    """KRX sessions between ``first`` and ``last`` (inclusive), as datetime64[D]: Mon–Fri minus the fixed
    holidays and the exchange's own holiday list (Seollal, Chuseok, elections), so the synthetic market
    and the bot's trading calendar agree on which days trade."""
    from kstock.market.calendar import is_krx_holiday

    days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    mmdd = np.array([str(d)[5:] for d in days])
    days = days[(weekday < 5) & ~np.isin(mmdd, HOLIDAYS_MMDD)]
    return days[~np.array([is_krx_holiday(d) for d in days], dtype=bool)]


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) paths along the last axis with stationary standard deviation ``sd``."""
    innov = rng.standard_normal(shape) * sd * np.sqrt(1 - phi**2)
    innov[..., 0] = rng.standard_normal(shape[:-1]) * sd
    return lfilter([1.0], [1.0, -phi], innov, axis=-1)


def _student(rng: np.random.Generator, shape: tuple[int, ...], df: float = 5.0) -> np.ndarray:
    """Unit-variance Student-t draws: daily returns have fat tails."""
    return rng.standard_t(df, size=shape) / np.sqrt(df / (df - 2))


def _factors(rng: np.random.Generator, n_days: int) -> _Factors:
    """Market, KOSDAQ and sector factors under a shared volatility regime, plus the return regime."""
    g = _ar1(rng, (n_days,), 0.985, 0.3)
    vol = np.exp(g - 0.045)
    market = 0.0003 + 0.009 * vol * _student(rng, (n_days,))
    kosdaq = 0.005 * vol * _student(rng, (n_days,))
    sectors = 0.007 * vol * _student(rng, (N_SECTORS, n_days))
    switches = rng.random(n_days) < _REGIME_SWITCH
    state = (np.cumsum(switches) + rng.integers(2)) % 2  # 0 = momentum, 1 = mean reversion
    reversal = np.asarray(_REVERSAL)[state]
    drift_scale = np.asarray(_DRIFT_SCALE)[state]
    return _Factors(vol, market, kosdaq, sectors, reversal, drift_scale)


def _params(listings: list[Listing], rng: np.random.Generator) -> _Params:
    """Loadings by instrument kind: commons vary, ETFs track the market, SPACs barely move."""
    n = len(listings)
    kinds = np.array([li.ticker.kind for li in listings])
    is_kosdaq = np.array([li.ticker.market == Market.KOSDAQ for li in listings])
    common = kinds == InstrumentKind.COMMON
    beta = np.clip(rng.normal(1.0, 0.3, n), 0.3, 2.0)
    sector_load = np.clip(rng.normal(1.0, 0.3, n), 0.2, 2.0)
    sector = np.array([li.ticker.sector_id if li.ticker.sector_id is not None else 0 for li in listings])
    sigma = np.exp(rng.normal(np.log(np.where(is_kosdaq, 0.024, 0.015)), 0.3))
    value = np.exp(rng.normal(np.log(np.where(is_kosdaq, 1.5e9, 3e9)), 1.1))
    etf, spac, reit = (kinds == k for k in (InstrumentKind.ETF, InstrumentKind.SPAC, InstrumentKind.REIT))
    beta[etf], sector_load[~common], sigma[etf], value[etf] = 1.0, 0.0, 0.0015, 1e11
    value[:N_REFERENCE] *= 100  # 삼성전자 and friends trade hundreds of billions of KRW a day
    beta[spac], sigma[spac], value[spac] = 0.02, 0.003, 3e7
    beta[reit], sigma[reit], value[reit] = 0.4, 0.008, 5e8
    return _Params(beta, sector_load, sector, is_kosdaq.astype(float) * common, sigma, common, value)


def _returns(
    rng: np.random.Generator, listings: list[Listing], p: _Params, f: _Factors
) -> tuple[np.ndarray, ...]:
    """Latent daily returns (N, T) and their parts: systematic, total, idiosyncratic shock z, events."""
    n, t = len(listings), f.market.size
    systematic = (p.beta[:, None] * f.market + p.sector_load[:, None] * f.sectors[p.sector]
                  + p.kosdaq[:, None] * f.kosdaq)
    vol = p.sigma[:, None] * np.exp(_ar1(rng, (n, t), 0.97, 0.3) - 0.045) * np.sqrt(f.vol)
    shock = _student(rng, (n, t))
    eps = vol * shock
    recent = lfilter(np.r_[0.0, np.full(5, 0.2)], [1.0], eps, axis=1)  # mean of the previous 5 shocks
    drift = _ar1(rng, (n, t), _DRIFT_PHI, _DRIFT_SD) * f.drift_scale
    events = (rng.random((n, t)) < _EVENT_PROB) & p.structured[:, None]
    jump = np.where(events, rng.laplace(0.0, _EVENT_SCALE, (n, t)) * (1 + p.kosdaq[:, None] * 0.3), 0.0)
    carry = lfilter(np.r_[0.0, np.full(_EVENT_DAYS, _EVENT_CARRY / _EVENT_DAYS)], [1.0], jump, axis=1)
    structure = (drift - f.reversal * recent + jump + carry) * p.structured[:, None]
    returns = systematic + eps + structure
    for i, li in enumerate(listings):  # a preferred share follows its common, with its own noise
        if li.parent is not None:
            returns[i] = 0.9 * returns[li.parent] + 0.006 * rng.standard_normal(t)
            events[i] = events[li.parent]
    return systematic, returns, np.abs(shock), events


def _halts(
    rng: np.random.Generator, listings: list[Listing], listed: np.ndarray, returns: np.ndarray
) -> np.ndarray:
    """Halt spells of 1–10 days for about 3 % of the generated commons (at least two).

    The news behind a halt is priced on the day trading resumes, so the halted days' returns are
    added to that day (the ±30 % limit then caps it).
    """
    n, t = returns.shape
    halted = np.zeros((n, t), dtype=bool)
    parents = {li.parent for li in listings}  # a halted common would have to halt its preferred too
    candidates = [i for i, li in enumerate(listings)  # generated commons listed throughout (not 삼성전자…)
                  if li.ticker.kind == InstrumentKind.COMMON and i >= N_REFERENCE and listed[i].all()
                  and i not in parents]
    count = min(len(candidates), max(2, round(0.03 * len(candidates))))
    for i in rng.choice(candidates, size=count, replace=False):
        length = min(int(rng.integers(1, 11)), max(1, t // 4))  # short histories get short spells
        first = int(rng.integers(t // 10, max(t // 10 + 1, t - length - 1)))
        halted[i, first:first + length] = True
        returns[i, first + length] += returns[i, first:first + length].sum()
    return halted


def _floor_tick(price: np.ndarray) -> np.ndarray:
    t = tick_size(price)
    return np.floor(price / t) * t


def _ceil_tick(price: np.ndarray) -> np.ndarray:
    t = tick_size(price)
    return np.ceil(price / t) * t


def _excursion_pull(price: np.ndarray, start: np.ndarray) -> np.ndarray:
    """A daily return pulling back prices that wandered beyond e^±1.5 of their start.

    Without it a six-year run sends a few names to 10 KRW or 5,000,000 KRW; inside the band it is 0,
    so it plants no signal for ordinary stocks.
    """
    deviation = np.log(price / start)
    return _PULL * np.sign(deviation) * np.maximum(np.abs(deviation) - 1.5, 0.0)


def _close_path(start: np.ndarray, returns: np.ndarray, halted: np.ndarray) -> tuple[np.ndarray, ...]:
    """Closes on the tick grid within the daily limits; also the previous close and the limit prices.

    A loop over days (vectorised over instruments) because each day's tick grid and limits depend on
    the previous rounded close.
    """
    n, t = returns.shape
    close, prev, upper, lower = (np.empty((n, t)) for _ in range(4))
    p = start.astype(float)
    for d in range(t):
        up, lo = _floor_tick(p * (1 + PRICE_LIMIT)), _ceil_tick(p * (1 - PRICE_LIMIT))
        c = np.clip(round_to_tick(p * (1 + returns[:, d] - _excursion_pull(p, start))), lo, up)
        c = np.where(halted[:, d], p, c)
        close[:, d], prev[:, d], upper[:, d], lower[:, d] = c, p, up, lo
        p = c
    return close, prev, upper, lower


def _bars(
    rng: np.random.Generator,
    close: np.ndarray,
    prev: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    returns: np.ndarray,
    shock: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open, high and low around the close: consistent (low ≤ open, close ≤ high), on ticks, in limits."""
    day_move = np.abs(np.log(close / prev)) + 0.01
    gap = 0.3 * returns + 0.3 * day_move * rng.standard_normal(close.shape)
    opens = np.clip(round_to_tick(prev * (1 + gap)), lower, upper)
    top, bottom = np.maximum(opens, close), np.minimum(opens, close)
    wick = 0.4 * day_move * (0.5 + 0.5 * np.minimum(shock, 3.0))
    highs = np.clip(round_to_tick(top * (1 + np.abs(rng.standard_normal(close.shape)) * wick)), top, upper)
    lows = np.clip(round_to_tick(bottom * (1 - np.abs(rng.standard_normal(close.shape)) * wick)), lower, bottom)
    return opens, highs, lows


def _volumes(
    rng: np.random.Generator, p: _Params, close: np.ndarray, shock: np.ndarray, events: np.ndarray
) -> np.ndarray:
    """Lognormal shares traded around a per-stock level; larger on big moves and on event days."""
    n, t = close.shape
    level = np.log(p.traded_value / close[:, 0])[:, None]  # shares at the first price: turnover moves with price
    liquidity = _ar1(rng, (n, t), 0.95, 0.3)
    boost = np.where(events, rng.uniform(1.5, 2.5, (n, t)), 0.0)
    log_volume = level + liquidity + 0.2 * np.minimum(shock, 5.0) + boost + 0.3 * rng.standard_normal((n, t))
    return np.maximum(np.round(np.exp(log_volume)), 1.0).astype(np.int64)


def _listed_mask(listings: list[Listing], days: np.ndarray) -> np.ndarray:
    """True on the days each instrument has a price row: from listing, up to the day before delisting."""
    mask = np.ones((len(listings), days.size), dtype=bool)
    for i, li in enumerate(listings):
        if li.ticker.listing_date:
            mask[i] &= days >= np.datetime64(li.ticker.listing_date, "D")
        if li.ticker.delisting_date:
            mask[i] &= days < np.datetime64(li.ticker.delisting_date, "D")
    return mask


def _long_frame(
    codes: np.ndarray,
    rows_of: np.ndarray,
    days: np.ndarray,
    listed: np.ndarray,
    halted: np.ndarray,
    opens: np.ndarray,
    highs: np.ndarray,
    lows: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
) -> pd.DataFrame:
    """The long price frame of instruments ``rows_of`` (in that order) by date; halt rows as KRX writes them."""
    rows, cols = np.nonzero(listed[rows_of])
    src = rows_of[rows]
    halt = halted[src, cols]
    zero_if_halt = np.where(halt, 0.0, 1.0)
    return pd.DataFrame({
        "code": codes[src],
        "date": days[cols].astype("datetime64[ns]"),
        "open": opens[src, cols] * zero_if_halt,
        "high": highs[src, cols] * zero_if_halt,
        "low": lows[src, cols] * zero_if_halt,
        "close": close[src, cols],
        "volume": np.where(halt, 0, volume[src, cols]),
    })


def _indices(
    rng: np.random.Generator, listings: list[Listing], days: np.ndarray, systematic: np.ndarray
) -> dict[str, pd.DataFrame]:
    """KOSPI and KOSDAQ levels from the systematic return of each market's common stocks."""
    out: dict[str, pd.DataFrame] = {}
    for market, level in INDEX_START.items():
        members = [i for i, li in enumerate(listings)
                   if li.ticker.market == market and li.ticker.kind == InstrumentKind.COMMON]
        ret = systematic[members].mean(axis=0)
        ret[0] = 0.0
        close = level * np.cumprod(1 + ret)
        prev = np.r_[level, close[:-1]]
        opens = prev * (1 + 0.3 * ret + 0.002 * rng.standard_normal(ret.size))
        spread = np.abs(ret) * 0.3 + 0.004
        highs = np.maximum(opens, close) * (1 + np.abs(rng.standard_normal(ret.size)) * spread)
        lows = np.minimum(opens, close) * (1 - np.abs(rng.standard_normal(ret.size)) * spread)
        out[market] = pd.DataFrame({
            "date": days.astype("datetime64[ns]"),
            "open": opens.round(2), "high": highs.round(2), "low": lows.round(2), "close": close.round(2),
        })
    return out
