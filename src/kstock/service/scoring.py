"""`score_market(date)`: score every common stock on a day, store predictions and signals.

The daily job runs it after the close; `/signals`, the push and `kstock signals` read what it stored,
so every subscriber sees the same list and nothing is recomputed per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.market.dates import day_int, iso, stored_day_index, utc_stamp
from kstock.market.repositories import book as book_table
from kstock.market.repositories import signals, tickers
from kstock.market.tradability import traded_value_20d
from kstock.ml.data import ModelData
from kstock.ml.evaluation.backtest import HOLD_BUFFER
from kstock.ml.evaluation.tranche_book import apply_plan, daily_ranks, keep_rank_for, plan_day
from kstock.service import stored_day
from kstock.service.context import Services
from kstock.service.headline import headline, no_basket_reason
from kstock.service.predict import DayPrediction, predict_day


@dataclass
class Signal:
    code: str
    name: str
    label: str
    probability: float | None
    score: float | None
    rank: int
    close: float | None = None
    traded_value_20d: float | None = None  # KRW, 20-day average as of the scored day
    entry: str | None = None  # BUY book: "new" (bought at the next open) or "kept" (held from before)
    expected_excess: float | None = None  # the headline: mean excess return of the name's score band, OOS
    hit_rate: float | None = None  # share of that band that beat the buyable universe
    samples: int | None = None  # how many out-of-sample (name, day) pairs the band's numbers rest on
    entry_date: str | None = None  # the day the holding started (BUY) or the sold holding had started (EXIT)
    bought_on: str | None = None  # the day the name was first bought (a keep restarts entry_date, not this)


@dataclass
class ScoringReport:
    date: str
    scored: int
    buys: list[Signal] = field(default_factory=list)
    sells: list[Signal] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    buyable: int = 0  # names that passed the book's tradability rule that day
    stale: bool = False  # the scored day is behind the source's current trading day


def score_market(services: Services, date: str | None = None, top: int = 10, *, stale: bool = False,
                 record: Callable[[dict[str, Any]], None] | None = None) -> ScoringReport:
    """Predict the whole universe on ``date`` (default: the last stored day), store the predictions and the book.

    The BUY side of the book is what the backtest would hold that day (:func:`select_book` over the names
    :func:`~kstock.market.tradability.buyable_at_close` allows, carrying the previous day's stored book);
    the SELL side is the weakest scored common stocks — a warning for holders, never a short. ``stale``
    marks a day scored on data behind the source's clock: it is stored but never published as today's. The
    new names are 매수 calls only (DESIGN §7); the publication's notes say why a day has none and which days
    were skipped since the last published book. ``record`` gets the scoring's metrics (date, scored, buyable,
    versions) inside the transaction that stores the day: the daily loop's "done" record is written with the
    book, never apart from it.
    """
    data = services.model_data(date)  # the recent window, or one ending on an older ``date``
    day = len(data.dates) - 1 if date is None else stored_day_index(data.dates, date)
    pred = predict_day(services, day, data)
    score = pred.ensemble.score[:, 0]
    ok = np.isfinite(score) & data.universe
    ranks = _ranks(score, ok)
    date_int, created = day_int(data.dates[day]), utc_stamp()
    book = _book_rows(services, data, day, pred, ok)
    notes = _notes(services, data, day, pred)
    signal_rows = []
    prediction_rows = []
    for i in np.flatnonzero(ok):
        code = data.panel.codes[i]
        signal_rows.append((date_int, code, pred.labels[i], _f(pred.ensemble.probability[i, 0]), _f(score[i]),
                            int(ranks[i]), None, created))
        for name, out in pred.members.items():
            if out is not None and np.isfinite(out.score[i, 0]):
                prediction_rows.append((date_int, code, name, pred.versions[name], _f(out.probability[i, 0]),
                                        _f(out.score[i, 0]), None, None, created))
    buyable = int((data.buyable(services.settings.min_traded_value)[:, day] & ok).sum())
    metrics = {"date": iso(date_int), "scored": len(signal_rows), "buyable": buyable, "versions": pred.versions}
    # a book published on current data is never rewritten by a later re-scoring of its day (see save_scoring)
    signals.save_scoring(services.store, date_int, signal_rows, prediction_rows, book, stale=stale,
                         versions=pred.versions, created=created, notes=notes,
                         last_scored=json.dumps({"date": iso(date_int), "versions": pred.versions}),
                         within=None if record is None else lambda: record(metrics))
    stored_day.save(services, data, pred)  # what a cold `kstock analyze` answers from (the same numbers)
    buys, sells = stored_signals(services, iso(date_int), top)
    return ScoringReport(iso(date_int), len(signal_rows), buys, sells, pred.versions, pred.unavailable, buyable, stale)


def _ranks(score: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """1 for the best score among ``ok``; ``inf`` elsewhere."""
    order = np.argsort(-np.where(ok, score, -np.inf), kind="stable")
    ranks = np.full(len(score), np.inf)
    ranks[order[: int(ok.sum())]] = np.arange(1, int(ok.sum()) + 1)
    return ranks


def _book_rows(services: Services, data: ModelData, day: int, pred: DayPrediction,
               ok: np.ndarray) -> list[book_table.BookRow]:
    """The day's book rows (:class:`~kstock.market.repositories.book.BookRow`) — holdings after the day's trades
    (BUY), the day's exits (EXIT) and the weakest names (SELL).

    The trades come from :func:`~kstock.ml.evaluation.tranche_book.plan_day`, the backtest's own rule, applied
    to the holdings of the last published book; only the day's 매수 calls may be bought (the backtest's
    ``buy_calls``), so every new name carries the 매수 band's number. What only the next open can tell (a
    halt, an open at the limit) is left to the ledger, as the backtest leaves it to its execution step.
    """
    settings = services.settings
    score = pred.ensemble.score[:, 0]
    buyable = data.buyable(settings.min_traded_value)[:, day] & ok
    # as in the backtest: a held name halted today keeps its place in the ranking (judged, not bought)
    ranked = ok & (buyable | ~data.panel.traded[:, day])
    rank = daily_ranks(score[:, None], ranked[:, None])[:, 0]
    holdings, bought = _previous_holdings(services, data, day)
    plan = plan_day(holdings, day, rank, buyable & (pred.labels == "BUY"), k=settings.top_k,
                    horizon=settings.label_horizon,
                    keep_rank=keep_rank_for(settings.top_k, int(buyable.sum()), HOLD_BUFFER))
    after = apply_plan(holdings, plan, day)
    tv = traded_value_20d(data.panel)[:, day]
    close = data.panel.close[:, day]
    entry = {**{i: "held" for i in plan.held}, **{i: "kept" for i in plan.kept}, **{i: "new" for i in plan.buys}}

    def row(side: str, i: int, n: int, kind: str | None, start: int | None) -> book_table.BookRow:
        p = None if pred.percentile is None else float(pred.percentile[i])
        h = headline(settings, pred.table, p)
        started = day_int(data.dates[start]) if start is not None and start >= 0 else None
        first = day_int(data.dates[day]) if kind == "new" else bought.get(i, started)
        return book_table.BookRow(side, data.panel.codes[i], n, kind, started, _f(score[i]), _f(tv[i]), _f(close[i]),
                                  h.excess, h.hit_rate, h.n or None, first if side != "SELL" else None)

    held = sorted(after, key=lambda i: (rank[i], data.panel.codes[i]))
    rows = [row("BUY", i, n, entry[i], after[i]) for n, i in enumerate(held, start=1)]
    rows += [row("EXIT", i, n, None, holdings[i]) for n, i in enumerate(sorted(plan.exits, key=lambda i: rank[i]), 1)]
    # SELL warnings: the weakest names whose band is a 매도 call (it lagged the universe out of sample), so a
    # warning never carries a number that says the opposite
    weakest = np.flatnonzero(ok & data.panel.traded[:, day] & (pred.labels == "SELL"))
    weakest = weakest[np.argsort(score[weakest], kind="stable")][: settings.top_k]
    rows += [row("SELL", i, n, None, None) for n, i in enumerate(weakest, start=1)]
    return rows


def _previous_holdings(services: Services, data: ModelData, day: int) -> tuple[dict[int, int], dict[int, int]]:
    """The last published book's holdings before ``day``: ({ticker index: day index its holding started},
    {ticker index: yyyymmdd it was first bought}).

    A start older than the loaded window counts as long due (its holding has run its course).
    """
    rows = book_table.holdings_before(services.store, day_int(data.dates[day]))
    index = {code: i for i, code in enumerate(data.panel.codes)}
    out, bought = {}, {}
    for code, started, first in rows:
        if code not in index:
            continue
        d = np.datetime64(iso(started), "D") if started else data.dates[0]
        out[index[code]] = int(np.searchsorted(data.dates, d)) if d >= data.dates[0] else -10**6
        if first or started:
            bought[index[code]] = int(first or started)
    return out, bought


def _notes(services: Services, data: ModelData, day: int, pred: DayPrediction) -> dict | None:
    """What the day's publication says besides its names: the trading days since the last published book
    that got none (``skipped``, ISO), and why there is no 매수 basket (``no_basket``, Korean)."""
    notes: dict = {}
    last = book_table.last_published_before(services.store, day_int(data.dates[day]))
    if last is not None:
        between = data.dates[(data.dates > np.datetime64(iso(last), "D")) & (data.dates < data.dates[day])]
        if between.size:
            notes["skipped"] = [str(d) for d in between]
            notes["last_published"] = iso(last)
    reason = no_basket_reason(services.settings, pred.table)
    if reason:
        notes["no_basket"] = reason
    return notes or None


def book_notes(services: Services, date: str) -> list[str]:
    """The Korean lines a published book carries besides its names (see :func:`_notes`): after a gap, which
    days had no book and that holdings follow the last one subscribers received; why there is no basket."""
    with services.store.lock:
        row = book_table.publication(services.store, day_int(date))
    raw = json.loads(row[3]) if row is not None and row[3] else {}
    lines = []
    skipped = raw.get("skipped") or []
    if skipped:
        days = ", ".join(_md_day(d) for d in skipped[:10]) + (f" 외 {len(skipped) - 10}일" if len(skipped) > 10 else "")
        lines.append(f"⏸ {len(skipped)}거래일({days}) 동안 신호가 발행되지 않았습니다 — 보유·매도는 마지막으로 "
                     f"발행된 {_md_day(raw.get('last_published'))} 신호를 기준으로 합니다.")
    if raw.get("no_basket"):
        lines.append(f"⛔ {raw['no_basket']}")
    return lines


def _md_day(day: str | None) -> str:
    return "?" if not day else f"{int(day[5:7])}/{int(day[8:10])}"


def stored_signals(services: Services, date: str | None = None, top: int = 5) -> tuple[list[Signal], list[Signal]]:
    """The day's book (default: the last scored day): the holdings in rank order and the weakest SELL names.

    ``top`` limits each list (the book itself has ``KSTOCK_TOP_K`` names). Days scored before the book
    existed fall back to the strongest BUY/SELL labels of the signals table.
    """
    with services.store.lock:  # see stored_book
        return _stored_signals(services, date, top)


def _stored_signals(services: Services, date: str | None, top: int) -> tuple[list[Signal], list[Signal]]:
    book = stored_book(services, date)
    if book is not None:
        return book["BUY"][:top], book["SELL"][:top]
    store = services.store
    date_int = _scored_day(services, date)
    names, closes = tickers.names(store), tickers.closes_on(store, date_int)

    def fetch(label: str) -> list[Signal]:
        rows = signals.strongest(store, date_int, label, top)
        return [Signal(c, names.get(c, c), lab, p, s, r, closes.get(c)) for c, lab, p, s, r in rows]

    return fetch("BUY"), fetch("SELL")


def latest_book(services: Services, date: str | None = None) -> tuple[str, dict[str, list[Signal]]]:
    """(day, book by side) of ``date`` or the last scored day; days from before the book existed give their
    strongest BUY/SELL labels as holdings/warnings."""
    with services.store.lock:  # see stored_book
        date_int = _scored_day(services, date)
        day = iso(date_int)
        book = stored_book(services, day)
        if book is None:
            buys, sells = stored_signals(services, day, services.settings.top_k)
            book = {"BUY": buys, "EXIT": [], "SELL": sells}
    return day, book


def stored_book(services: Services, date: str | None = None) -> dict[str, list[Signal]] | None:
    """The day's whole stored book by side — BUY (holdings), EXIT (sold at the next open), SELL — or None.

    Read under the store's lock: the bot shares one connection between threads, and a read beside the
    day's scoring transaction would otherwise see its uncommitted rows — half a book.
    """
    with services.store.lock:
        return _stored_book(services, date)


def _stored_book(services: Services, date: str | None) -> dict[str, list[Signal]] | None:
    store = services.store
    date_int = _scored_day(services, date)
    names = tickers.names(store)
    calls = {c: call[:2] for c, call in signals.calls(store, date_int).items()}
    rows = book_table.rows(store, date_int)
    if not rows:
        return None
    book: dict[str, list[Signal]] = {"BUY": [], "EXIT": [], "SELL": []}
    for r in rows:
        label, probability = calls.get(r.code, (r.side, None))
        first = r.bought_on or r.entry_date  # a book stored before bought_on existed: its entry day
        book.setdefault(r.side, []).append(Signal(
            r.code, names.get(r.code, r.code), label, probability, r.score, r.rank, r.close, r.traded_value_20d,
            r.entry, r.expected_excess, r.hit_rate, r.samples, iso(r.entry_date) if r.entry_date else None,
            iso(first) if first else None))
    return book


def _scored_day(services: Services, date: str | None) -> int:
    """yyyymmdd of ``date`` (or the last scored day); a day that was never scored is an error saying so."""
    if date is None:
        last = signals.last_day(services.store)
        if last is None:
            raise KstockError(
                "아직 채점된 신호가 없습니다 — 장 마감 후 자동 채점을 기다리거나, 관리자가 채점을 실행해 주세요."
            )
        return last
    try:
        date_int = day_int(date)
    except ValueError:
        raise KstockError(f"날짜 '{date}'를 읽을 수 없습니다 (YYYY-MM-DD).") from None
    if not signals.scored(services.store, date_int):
        raise NotScoredError(f"{iso(date_int)}은(는) 채점되지 않은 날입니다 — `kstock score --date {iso(date_int)}`로 "
                             "채점할 수 있습니다.")
    return date_int


class NotScoredError(KstockError):
    """A day that has no stored scoring."""


def publication(services: Services, date: str) -> dict | None:
    """How ``date`` was scored: data date, whether it was stale, model versions; None if never scored."""
    row = book_table.publication(services.store, day_int(date))
    if row is None:
        return None
    return {"date": date, "data_date": iso(row[0]), "stale": bool(row[1]), "versions": json.loads(row[2] or "{}"),
            "notes": json.loads(row[3] or "{}")}


def last_scored_date(services: Services) -> str | None:
    last = signals.last_day(services.store)
    return iso(last) if last else None


def _f(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
