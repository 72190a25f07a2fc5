"""The synthetic generator writes into the store a slice of tickers at a time (issue 15): the same
rows as generating the whole long frame and ingesting it, without holding it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kstock.market import synthetic
from kstock.market.repositories.meta import last_update
from kstock.market.store import MarketStore
from kstock.market.synthetic import generate_market, write_market


def test_streamed_market_is_the_generated_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(synthetic, "_CHUNK_TICKERS", 7)  # many slices, one of them short
    whole = generate_market(n_tickers=40, years=1.0, seed=11)
    with MarketStore(tmp_path / "a.db") as a, MarketStore(tmp_path / "b.db") as b:
        changed = a.ingest(whole, source="t")
        market, rows, streamed = write_market(b, n_tickers=40, years=1.0, seed=11, source="t")
        assert (rows, streamed) == (len(whole.prices), changed)
        assert market.tickers == whole.tickers and market.prices.empty
        pa, pb = a.load_panel(), b.load_panel()
        assert pa.codes == pb.codes and np.array_equal(pa.ohlcv, pb.ohlcv, equal_nan=True)
        assert np.array_equal(pa.halted, pb.halted)
        pd.testing.assert_frame_equal(a.load_index("KOSPI"), b.load_index("KOSPI"))
        assert last_update(b)["rows_changed"] == changed  # one logged update, as ingest writes it


def test_streamed_market_stops_at_until(tmp_path: Path) -> None:
    with MarketStore(tmp_path / "c.db") as store:
        _, rows, _ = write_market(store, n_tickers=30, years=1.0, seed=2, end="2025-06-30", until="2025-03-31")
        whole = generate_market(n_tickers=30, years=1.0, seed=2, end="2025-06-30")
        assert rows == int((whole.prices["date"] <= pd.Timestamp("2025-03-31")).sum())
        assert str(store.last_price_date()) <= "2025-03-31"
        assert store.load_index("KOSPI").index.max() <= pd.Timestamp("2025-03-31")


def test_generate_market_is_deterministic_across_slices(monkeypatch) -> None:
    first = generate_market(n_tickers=30, years=0.5, seed=4)
    monkeypatch.setattr(synthetic, "_CHUNK_TICKERS", 5)
    pd.testing.assert_frame_equal(first.prices, generate_market(n_tickers=30, years=0.5, seed=4).prices)
