"""What a store holds, counted for `kstock data status` and the bot's /status (``MarketStore.summary``).

A read-only report over every table; kept out of :mod:`kstock.market.store`, whose job is reading and
writing the market data itself. The one-line summary of `kstock data check` both print is here too
(:func:`bad_rows_line`); the bot reads its count through :func:`cached_bad_rows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstock.market.completeness import last_complete_day, series_lag, trailing_incomplete
from kstock.market.dates import iso
from kstock.market.repositories.meta import data_version, last_update
from kstock.market.sectors import sector_name
from kstock.market.store_checks import count_bad_rows
from kstock.market.store_reads import index_totals, price_totals, ticker_counts
from kstock.memo import PerOwner

if TYPE_CHECKING:
    from kstock.market.store import MarketStore


def summarize(store: MarketStore) -> dict:
    """Tickers by market/kind/sector, price rows and their date range, halt days, index series, last update."""
    prices, tickers = price_totals(store), ticker_counts(store)
    return {
        "db": str(store.path),
        "schema_version": store.schema_version,
        "tickers": tickers.total,
        "by_market": tickers.by_market,
        "by_kind": tickers.by_kind,
        "by_sector": {sector_name(sid): n for sid, n in tickers.common_by_sector},
        "rows": prices.rows,
        "first_date": iso(prices.first) if prices.first else None,
        "last_date": iso(prices.last) if prices.last else None,
        "halt_days": prices.halt_rows,
        "indices": {s.name: {"rows": s.rows, "first_date": iso(s.first), "last_date": iso(s.last)}
                    for s in index_totals(store)},
        "last_update": last_update(store),
        **completeness_summary(store),
    }


def completeness_summary(store: MarketStore) -> dict:
    """The last complete day, the stored days after it (partial or stray) and each index series' lag."""
    last = last_complete_day(store)
    return {
        "last_complete_date": iso(last) if last else None,
        "incomplete_days": [c.as_dict() for c in trailing_incomplete(store)],
        "market_series": [{"name": s.name, "last_date": s.last_date, "lag_sessions": s.sessions,
                           "note": s.describe()} for s in series_lag(store)],
    }


def completeness_lines(summary: dict) -> list[str]:
    """The Korean lines `data status` and /status print for :func:`completeness_summary`."""
    lines = [s["note"] for s in summary.get("market_series", []) if s["lag_sessions"]]
    for day in summary.get("incomplete_days", []):
        lines.append(f"⚠️ {day['day']} 데이터 불완전: {day['count']:,}/{day['expected']:,}종목 "
                     f"({day['share']:.1%}) — 마지막 완전한 거래일 {summary.get('last_complete_date')}")
    return lines


def bad_rows_line(bad_rows: int) -> str:
    """The one line about `kstock data check` that `data status` and admins' /status print (Korean)."""
    if not bad_rows:
        return "점검:   잘못된 가격 행 없음"
    return f"⚠️ 점검: 잘못된 가격 행 {bad_rows:,}개 — 목록은 `kstock data check`"


def cached_bad_rows(store: MarketStore) -> int:
    """:func:`~kstock.market.store_checks.count_bad_rows`, counted once per data version.

    The count reads every stored row (about 2 s on the whole KRX market): a chat's /status pays it once after
    each data update — every writer of prices logs one (``data_updates``), whichever process it runs in — and
    reads it back until the next.
    """
    return _BAD_ROWS.get(store, data_version(store), lambda: count_bad_rows(store))


#: store → its bad row count, keyed by the data version: see cached_bad_rows.
_BAD_ROWS: PerOwner[int] = PerOwner()
