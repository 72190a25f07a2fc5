"""Watchlists: the stocks a chat follows (``/watch``), their latest calls, and the calls that changed.

Stored in the store (table ``watchlist``, schema v5) so they survive restarts. The calls come from the
``signals`` table the daily scoring writes — nothing is recomputed per request, and a watchlist shows
exactly what ``/signals`` and the push saw. A chat may follow at most :data:`MAX_WATCH` stocks: the
daily alert lists every change in one message, which must stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstock.errors import KstockError
from kstock.market.dates import day_int, iso, utc_stamp
from kstock.market.repositories import signals, tickers
from kstock.market.repositories import watchlist as watch_table
from kstock.market.store import MarketStore
from kstock.market.types import Ticker
from kstock.service.context import Services

#: Stocks one chat may follow.
MAX_WATCH = 20


class WatchlistFull(KstockError):
    """The chat already follows :data:`MAX_WATCH` stocks."""


@dataclass(frozen=True)
class WatchedCall:
    """One watched stock with its call on the last scored day (``label`` None: not scored that day)."""

    code: str
    name: str
    date: str | None
    label: str | None
    probability: float | None
    score: float | None
    headline: str | None = None  # e.g. "예상 5일 초과수익률 +0.9% (…)" — what the score's band has meant


@dataclass(frozen=True)
class CallChange:
    """A watched stock whose call on ``date`` differs from its call on the previous scored day."""

    code: str
    name: str
    date: str
    before: str
    after: str
    probability: float | None


def add(store: MarketStore, chat_id: int, user_id: int | None, ticker: Ticker, wait: float | None = None) -> bool:
    """Follow ``ticker``; False when already followed. Raises :class:`WatchlistFull` at the limit.
    ``wait``: the most seconds to wait for a store another writer holds (a chat waits at most that)."""
    outcome = watch_table.add(store, chat_id, ticker.code, user_id, utc_stamp(), MAX_WATCH, wait=wait)
    if outcome == "full":
        raise WatchlistFull(f"관심종목은 {MAX_WATCH}개까지 등록할 수 있습니다. "
                            "/unwatch 로 하나를 지운 뒤 다시 시도해 주세요.")
    return outcome == "added"


def remove(store: MarketStore, chat_id: int, code: str, wait: float | None = None) -> bool:
    """Stop following ``code``; False when it was not followed."""
    return watch_table.remove(store, chat_id, code, wait=wait)


def codes(store: MarketStore, chat_id: int) -> list[str]:
    """The codes a chat follows, in the order they were added."""
    return watch_table.codes(store, chat_id)


def watching_chats(store: MarketStore) -> dict[int, list[str]]:
    """chat → followed codes, for every chat that follows something."""
    out: dict[int, list[str]] = {}
    for chat_id, code in watch_table.all_rows(store):
        out.setdefault(int(chat_id), []).append(code)
    return out


def _names(store: MarketStore, wanted: list[str]) -> dict[str, str]:
    with store.lock:
        return tickers.names(store, wanted)


def headlines(services: Services, date: str | None) -> dict[str, str]:
    """code → the headline number of every name scored on ``date`` (the percentile is the day's, as
    scoring computes it), or {} when nothing was scored then."""
    if date is None:
        return {}
    from kstock.service.headline import day_headlines
    from kstock.service.serving import serving_table

    with services.store.lock:
        rows = signals.scores(services.store, day_int(date))
    if not rows:
        return {}
    found = day_headlines(services.settings, serving_table(services), np.array([r[1] for r in rows], dtype=float))
    return {code: h.text for (code, _), h in zip(rows, found, strict=True)}


def latest_calls(store: MarketStore, wanted: list[str], services: Services | None = None) -> list[WatchedCall]:
    """Each code's call on the last scored day (the day ``/signals`` shows), in the given order; with
    ``services``, each with its headline number."""
    if not wanted:
        return []
    with store.lock:
        last = signals.last_day(store)
        rows = {} if last is None else signals.calls(store, last, wanted)
    names = _names(store, wanted)
    date = iso(last) if last is not None else None
    numbers = headlines(services, date) if services is not None and rows else {}
    return [WatchedCall(c, names.get(c, c), date, *(rows.get(c) or (None, None, None)), numbers.get(c))
            for c in wanted]


def previous_scored_date(store: MarketStore, date: str) -> str | None:
    """The last scored day before ``date`` (the day a call *changed from*)."""
    with store.lock:
        before = signals.day_before(store, day_int(date))
    return iso(before) if before is not None else None


def call_changes(store: MarketStore, date: str) -> dict[int, list[CallChange]]:
    """chat → its watched stocks whose call on ``date`` differs from the previous scored day.

    A stock scored on only one of the two days is not a change (no call to compare); a chat with no
    change is absent.
    """
    before_date = previous_scored_date(store, date)
    chats = watching_chats(store)
    if before_date is None or not chats:
        return {}
    wanted = sorted({c for cs in chats.values() for c in cs})
    with store.lock:
        now, before = (signals.calls(store, day_int(day), wanted) for day in (date, before_date))
    names = _names(store, wanted)
    out: dict[int, list[CallChange]] = {}
    for chat_id, followed in chats.items():
        changed = [CallChange(c, names.get(c, c), date, before[c][0], now[c][0], now[c][1])
                   for c in followed if c in now and c in before and now[c][0] != before[c][0]]
        if changed:
            out[chat_id] = changed
    return out
