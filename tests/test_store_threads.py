"""The store shared by the bot's threads: each thread reads and writes through its own SQLite connection.

One connection used by two threads at once crashed the test process with a segmentation fault (CI, in the
analysis thread pool); these tests keep threads apart and check what a thread's connection carries.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kstock.market.store import MarketStore, StoreError
from kstock.market.types import InstrumentKind, Ticker

TICKERS = [Ticker(f"{i:06d}", f"종목{i}", "KOSPI", InstrumentKind.COMMON, 0) for i in range(1, 41)]


@pytest.fixture
def store(tmp_path: Path):
    with MarketStore(tmp_path / "s.db") as s:
        s.upsert_tickers(TICKERS)
        yield s


def _in_thread(fn):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_each_thread_gets_its_own_connection_and_keeps_it(store: MarketStore) -> None:
    mine = store.conn
    assert store.conn is mine  # the opening thread's stays the same
    theirs = _in_thread(lambda: (store.conn, store.conn))
    assert theirs[0] is theirs[1] and theirs[0] is not mine


def test_threads_read_together_without_crashing_or_mixing_results(store: MarketStore) -> None:
    expected = sorted(t.code for t in TICKERS)

    def read(_: int) -> list[str]:
        out = []
        for _ in range(300):
            out = [r[0] for r in store.conn.execute("SELECT code FROM tickers ORDER BY code")]
        return out

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read, range(8)))
    assert all(r == expected for r in results)


def test_a_thread_connection_enforces_foreign_keys_and_sees_commits(store: MarketStore) -> None:
    assert _in_thread(lambda: store.conn.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
    with store.transaction() as conn:
        conn.execute("INSERT INTO meta VALUES ('k', 'v')")
    assert _in_thread(lambda: store.conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0]) == "v"


def test_a_write_from_another_thread_is_one_transaction_in_the_process(store: MarketStore) -> None:
    done = threading.Event()

    def write() -> None:
        with store.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('from-thread', '1')")
        done.set()

    with store.transaction() as conn:  # held here: the other thread's transaction waits for it, not fails
        conn.execute("INSERT INTO meta VALUES ('first', '1')")
        worker = threading.Thread(target=write)
        worker.start()
        assert not done.wait(0.2)
    worker.join(5)
    assert done.is_set()
    keys = {r[0] for r in store.conn.execute("SELECT key FROM meta WHERE key IN ('first', 'from-thread')")}
    assert keys == {"first", "from-thread"}


def test_busy_timeout_reaches_every_thread(store: MarketStore, tmp_path: Path) -> None:
    _in_thread(lambda: store.conn)  # a thread connection opened before the change
    store.set_busy_timeout(0.25)
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 250
    assert _in_thread(lambda: store.conn.execute("PRAGMA busy_timeout").fetchone()[0]) == 250
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        def write() -> None:
            with store.transaction() as conn:
                conn.execute("INSERT INTO meta VALUES ('x', 'y')")

        with pytest.raises(StoreError, match="다른 쓰기 작업이 잠그고 있습니다"):
            _in_thread(write)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_close_closes_every_thread_connection(tmp_path: Path) -> None:
    store = MarketStore(tmp_path / "s.db")
    theirs = _in_thread(lambda: store.conn)
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        theirs.execute("SELECT 1")


def test_a_read_only_store_is_read_only_in_every_thread(store: MarketStore, tmp_path: Path) -> None:
    with MarketStore(tmp_path / "s.db", readonly=True) as reader:
        count = _in_thread(lambda: reader.conn.execute("SELECT COUNT(*) FROM tickers").fetchone()[0])
        assert count == len(TICKERS)
        with pytest.raises(sqlite3.OperationalError):
            _in_thread(lambda: reader.conn.execute("INSERT INTO meta VALUES ('a', 'b')"))


def test_a_write_on_another_thread_invalidates_what_this_thread_cached(store: MarketStore) -> None:
    """The calendar and the complete days are cached per store, keyed by the writes through it: a write made
    on a bot thread's connection (not logged as an update) must be seen by the next read on the main thread."""
    import pandas as pd

    from kstock.market.calendar import TradingCalendar

    def prices(day: str) -> pd.DataFrame:
        return pd.DataFrame({"code": [t.code for t in TICKERS], "date": day, "open": 100.0, "high": 101.0,
                             "low": 99.0, "close": 100.0, "volume": 1000.0})

    store.upsert_prices(prices("2025-07-01"))
    assert TradingCalendar.from_store(store).last_stored == np.datetime64("2025-07-01")
    _in_thread(lambda: store.upsert_prices(prices("2025-07-02")))
    assert TradingCalendar.from_store(store).last_stored == np.datetime64("2025-07-02")
