"""What a store holds, counted for `kstock data status` and the bot's /status (``MarketStore.summary``).

A read-only report over every table; kept out of :mod:`kstock.market.store`, whose job is reading and
writing the market data itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstock.market.dates import iso
from kstock.market.sectors import sector_name

if TYPE_CHECKING:
    from kstock.market.store import MarketStore


def summarize(store: MarketStore) -> dict:
    """Tickers by market/kind/sector, price rows and their date range, halt days, index series, last update."""
    q = store.conn.execute
    rows, first, last, halts = q(
        "SELECT COUNT(*), MIN(date), MAX(date), COALESCE(SUM(halted), 0) FROM prices"
    ).fetchone()
    by_sector_rows = q(
        "SELECT sector_id, COUNT(*) FROM tickers WHERE kind = 'common' GROUP BY sector_id ORDER BY sector_id"
    ).fetchall()
    index_rows = q("SELECT name, COUNT(*), MIN(date), MAX(date) FROM index_prices GROUP BY name").fetchall()
    return {
        "db": str(store.path),
        "schema_version": store.schema_version,
        "tickers": q("SELECT COUNT(*) FROM tickers").fetchone()[0],
        "by_market": dict(q("SELECT market, COUNT(*) FROM tickers GROUP BY market ORDER BY market").fetchall()),
        "by_kind": dict(q("SELECT kind, COUNT(*) FROM tickers GROUP BY kind ORDER BY kind").fetchall()),
        "by_sector": {sector_name(sid): n for sid, n in by_sector_rows},
        "rows": rows,
        "first_date": iso(first) if first else None,
        "last_date": iso(last) if last else None,
        "halt_days": int(halts),
        "indices": {n: {"rows": c, "first_date": iso(a), "last_date": iso(b)} for n, c, a, b in index_rows},
        "last_update": store.last_update(),
    }
