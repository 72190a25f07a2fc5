"""The ledger: how every published signal turned out, measured exactly as the backtest measures (DESIGN §7).

A published day is a scored day whose data was current (``publications.stale = 0``); its book is in the
``book`` table. Each day's tranche — the names bought at the next open and the names kept for another
horizon (:mod:`kstock.ml.evaluation.tranche_book`) — is a set of signals; once ``KSTOCK_LABEL_HORIZON``
sessions have passed after the entry, each is measured as a subscriber would have traded it: bought at the
next day's open, sold at the open ``horizon`` days later, commission on both sides and the sell tax of the
sale year deducted, halts valued at the last open —
:func:`kstock.ml.evaluation.calibration.round_trip_returns`, the function the band table behind every
headline uses. A name that could not be bought (halted, or opening at the upper limit)
is recorded as such and left out of the averages, as the backtest skips it.

Beside each signal: the equal-weighted buyable universe over the same days (the same rule,
:func:`~kstock.ml.evaluation.calibration.buyable_on`) and KOSPI (close on the entry day to close on the
sale day; the index has closes only). The cumulative curve follows the daily BUY book in ``horizon``
overlapping tranches, 1/horizon of the capital each — what a subscriber who buys each push's list the
next morning and sells it ``horizon`` days later would hold.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kstock.market.dates import day_int, iso
from kstock.market.repositories import book as book_table
from kstock.market.tradability import MIN_LISTED_DAYS, execution
from kstock.market.types import OPEN, InstrumentKind
from kstock.ml.evaluation.calibration import buyable_on, round_trip_returns
from kstock.service.context import Services
from kstock.service.live_ic import live_ic

#: Calendar days loaded before the first published day: the buyable rule needs the listing history.
LOOKBACK_DAYS = int(MIN_LISTED_DAYS * 1.6) + 30


@dataclass
class SignalOutcome:
    date: str  # the published (decision) day
    code: str
    name: str
    rank: int
    versions: str  # the model versions that made the call, e.g. "trees 20261126T…"
    status: str  # measured / not_bought / pending
    net_return: float | None = None  # entry t+1 open → open t+1+horizon, net of costs
    universe: float | None = None  # the equal-weighted buyable universe over the same days
    kospi: float | None = None
    excess: float | None = None  # net_return − universe
    entry_date: str | None = None  # the next open it was (or would be) bought at
    entry_price: float | None = None
    exit_date: str | None = None  # the open ``horizon`` days later (None while still held)
    exit_price: float | None = None
    return_to_date: float | None = None  # still held: entry open → the last stored close (gross, no costs)


@dataclass
class Performance:
    horizon: int
    days: int  # published (non-stale) days
    measured_days: int
    signals: int  # measured BUY signals
    pending: int  # BUY signals whose horizon has not passed
    not_bought: int
    hit_rate: float | None  # share of measured signals that beat the universe
    mean_excess_return: float | None  # per signal
    ci95: list[float] | None  # of the mean excess, over days (signals of one day move together)
    mean_return: float | None
    by_version: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)  # date, book, universe, kospi (cumulative)
    latest: list[dict[str, Any]] = field(default_factory=list)  # the last baskets' names, one row each
    live_ic: dict[str, Any] | None = None  # kstock.service.live_ic.LiveIC.as_dict()
    since: str | None = None
    first_day: str | None = None
    last_day: str | None = None

    @property
    def empty(self) -> bool:
        return self.signals == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _published(services: Services, since: str | None) -> list[tuple[int, str]]:
    rows = book_table.published(services.store, day_int(since) if since else 0)
    return [(int(d), _versions_key(v)) for d, v in rows]


def _versions_key(raw: str | None) -> str:
    versions = json.loads(raw or "{}")
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items())) or "?"


def outcomes(services: Services, since: str | None = None) -> tuple[list[SignalOutcome], int]:
    """Every published BUY signal since ``since`` with its outcome; and the number of published days."""
    published = _published(services, since)
    if not published:
        return [], 0
    store, horizon = services.store, services.settings.label_horizon
    first = np.datetime64(iso(published[0][0]), "D") - np.timedelta64(LOOKBACK_DAYS, "D")
    panel = store.load_panel(start=str(first), end=store.last_price_date())  # not a partial or stray day ahead
    tickers = {t.code: t for t in store.tickers()}
    universe = np.array([tickers.get(c) is not None and tickers[c].kind == InstrumentKind.COMMON
                         for c in panel.codes])
    net = round_trip_returns(panel, horizon)
    buyable = buyable_on(panel, universe, services.settings.min_traded_value) & np.isfinite(net)
    ex = execution(panel)
    enterable = ex.enterable
    with np.errstate(invalid="ignore"):
        market = np.where(buyable.any(axis=0), np.where(buyable, net, 0.0).sum(axis=0) / np.maximum(buyable.sum(0), 1),
                          np.nan)
    kospi = _index_round_trips(services, panel.dates, horizon)
    index = {code: i for i, code in enumerate(panel.codes)}
    position = {int(day_int(d)): t for t, d in enumerate(panel.dates)}
    out = []
    for date, versions in published:
        t = position.get(date)
        # the day's tranche: names bought at the next open or kept for another horizon (not older holdings,
        # whose own day measures them)
        for code, name, rank in book_table.tranche(store, date):
            entry = SignalOutcome(iso(date), code, name, int(rank), versions, "pending")
            i = index.get(code)
            if t is not None and i is not None and t + 1 < len(panel.dates):
                _prices(entry, panel, ex.open_ff, i, t, horizon)
            if t is None or i is None or t + 1 + horizon >= len(panel.dates):
                out.append(entry)
                continue
            if not enterable[i, t]:
                entry.status = "not_bought"
            elif np.isfinite(net[i, t]):
                entry.status = "measured"
                entry.net_return, entry.universe = float(net[i, t]), _f(market[t])
                entry.kospi = _f(kospi[t])
                entry.excess = None if entry.universe is None else entry.net_return - entry.universe
            out.append(entry)
    return out, len(published)


def _prices(entry: SignalOutcome, panel: Any, open_ff: np.ndarray, i: int, t: int, horizon: int) -> None:
    """The entry (next open) and exit (the open ``horizon`` later) of a signal, or its return so far."""
    entry.entry_date, entry.entry_price = str(panel.dates[t + 1]), _f(panel.ohlcv[i, t + 1, OPEN])
    if t + 1 + horizon < len(panel.dates):
        entry.exit_date, entry.exit_price = str(panel.dates[t + 1 + horizon]), _f(open_ff[i, t + 1 + horizon])
        return
    closes = panel.close[i, t + 1:]
    closes = closes[np.isfinite(closes)]
    if entry.entry_price and closes.size:
        entry.return_to_date = float(closes[-1] / entry.entry_price - 1.0)


def latest_baskets(signals: list[SignalOutcome], days: int) -> list[dict[str, Any]]:
    """The names of the last ``days`` published baskets, newest day first: entry, exit or still held, return
    and excess over the universe (``kstock performance --json`` and ``/performance``)."""
    dates = sorted({s.date for s in signals})[-days:]
    rows = [s for s in signals if s.date in dates]
    rows.sort(key=lambda s: (s.date, -s.rank), reverse=True)
    return [{"date": s.date, "code": s.code, "name": s.name, "rank": s.rank, "status": s.status,
             "held": s.status == "pending" and s.entry_date is not None, "entry_date": s.entry_date,
             "entry_price": s.entry_price, "exit_date": s.exit_date, "exit_price": s.exit_price,
             "net_return": s.net_return, "return_to_date": s.return_to_date, "excess": s.excess} for s in rows]


def performance(services: Services, since: str | None = None) -> Performance:
    """The live record: hit rate, mean excess with its 95% interval, by model version, and the curve."""
    horizon = services.settings.label_horizon
    signals, days = outcomes(services, since)
    measured = [s for s in signals if s.status == "measured" and s.excess is not None]
    perf = Performance(horizon, days, len({s.date for s in measured}), len(measured),
                       sum(s.status == "pending" for s in signals), sum(s.status == "not_bought" for s in signals),
                       None, None, None, None, since=since,
                       first_day=signals[0].date if signals else None, last_day=signals[-1].date if signals else None)
    # the baskets still held or awaiting their entry (the last horizon + 1 days) and the last one sold
    perf.latest = latest_baskets(signals, horizon + 2)
    perf.live_ic = live_ic(services, since).as_dict()
    if not measured:
        return perf
    excess = np.array([s.excess for s in measured])
    perf.hit_rate = float((excess > 0).mean())
    perf.mean_excess_return = float(excess.mean())
    perf.mean_return = float(np.mean([s.net_return for s in measured]))
    perf.ci95 = _ci95_over_days(measured)
    for version in sorted({s.versions for s in measured}):
        part = np.array([s.excess for s in measured if s.versions == version])
        perf.by_version[version] = {"signals": int(part.size), "hit_rate": float((part > 0).mean()),
                                    "mean_excess_return": float(part.mean()),
                                    "days": len({s.date for s in measured if s.versions == version})}
    perf.curve = _curve(measured, horizon)
    return perf


def _ci95_over_days(measured: list[SignalOutcome]) -> list[float] | None:
    """95% interval of the mean excess from the spread of the daily means (one day's names move together)."""
    by_day: dict[str, list[float]] = {}
    for s in measured:
        by_day.setdefault(s.date, []).append(s.excess)
    daily = np.array([np.mean(v) for v in by_day.values()])
    mean = float(np.mean([s.excess for s in measured]))
    if daily.size < 2:
        return None
    half = 1.96 * float(daily.std(ddof=1)) / math.sqrt(daily.size)
    return [mean - half, mean + half]


def _curve(measured: list[SignalOutcome], horizon: int) -> list[dict[str, Any]]:
    """Cumulative value of following the BUY book in ``horizon`` tranches, beside the universe and KOSPI."""
    days = sorted({s.date for s in measured})
    book = uni = kospi = 1.0
    curve = []
    for day in days:
        names = [s for s in measured if s.date == day]
        book *= 1.0 + float(np.mean([s.net_return for s in names])) / horizon
        uni *= 1.0 + float(names[0].universe or 0.0) / horizon
        kospi *= 1.0 + float(names[0].kospi or 0.0) / horizon
        curve.append({"date": day, "book": book, "universe": uni, "kospi": kospi})
    return curve


def _index_round_trips(services: Services, dates: np.ndarray, horizon: int) -> np.ndarray:
    """KOSPI close on t+1 → close on t+1+horizon for each panel day t (NaN where not stored)."""
    index = services.store.load_index("KOSPI")
    out = np.full(len(dates), np.nan)
    if index.empty:
        return out
    close = index["close"].reindex(index.index.union(dates)).ffill().reindex(dates).to_numpy()
    n = len(dates)
    if n > 1 + horizon:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[: n - 1 - horizon] = close[1 + horizon:] / close[1: n - horizon] - 1.0
    return out


def _f(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def as_of_text(perf: Performance) -> str:
    """'2025-07-01 ~ 2025-08-29' of the published days, for captions."""
    return f"{perf.first_day} ~ {perf.last_day}" if perf.first_day else ""


def days_until_first(services: Services) -> int | None:
    """Trading days until the first published signal can be measured (None when nothing is published)."""
    published = _published(services, None)
    if not published:
        return None
    first = dt.date.fromisoformat(iso(published[0][0]))
    stored = services.store.trading_days()
    after = int((stored > np.datetime64(first, "D")).sum())
    return max(0, services.settings.label_horizon + 1 - after)
