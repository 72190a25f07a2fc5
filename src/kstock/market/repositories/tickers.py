"""Names and closes for display: what a signal list or a watchlist shows beside each code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `kstock data check` (under the store's own summary) reads names: no import back at run time
    from kstock.market.store import MarketStore


def names(store: MarketStore, codes: Sequence[str] | None = None) -> dict[str, str]:
    """code → name of ``codes`` (default: every stored ticker)."""
    if codes is None:
        return dict(store.conn.execute("SELECT code, name FROM tickers").fetchall())
    marks = ",".join("?" * len(codes))
    return dict(store.conn.execute(f"SELECT code, name FROM tickers WHERE code IN ({marks})", list(codes)).fetchall())


def closes_on(store: MarketStore, day: int) -> dict[str, float]:
    """code → the stored close on ``day`` (yyyymmdd)."""
    return dict(store.conn.execute("SELECT code, close FROM prices WHERE date = ?", (day,)).fetchall())
