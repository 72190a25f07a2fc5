"""The market store: migrations, idempotent upserts, merges, halts, the panel fast path, locking, bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kstock.market.migrations import LATEST_VERSION, MIGRATIONS
from kstock.market.repositories.meta import last_good_update, last_update
from kstock.market.store import MarketStore, StoreError
from kstock.market.types import CLOSE, OPEN, VOLUME, InstrumentKind, MarketData, Ticker
from support.stores import data_checksum, price_frame, store_checksum

K = InstrumentKind
TICKERS = [
    Ticker("005930", "삼성전자", "KOSPI", K.COMMON, 0, listing_date="1975-06-11"),
    Ticker("005935", "삼성전자우", "KOSPI", K.PREFERRED, 0),
    Ticker("035720", "카카오", "KOSPI", K.COMMON, 2),
    Ticker("069500", "KODEX 200", "ETF", K.ETF, None),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db: Path):
    with MarketStore(db) as s:
        yield s


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


# --- migrations -----------------------------------------------------------------------------------


def test_new_file_reaches_latest_version(db: Path) -> None:
    with MarketStore(db) as s:
        assert s.schema_version == LATEST_VERSION
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"tickers", "prices", "index_prices", "data_updates", "predictions", "signals", "subscriptions",
            "push_log", "job_runs"} <= _tables(db)
    assert [v for v, _ in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))


def test_reopening_changes_nothing(store: MarketStore, db: Path) -> None:
    store.upsert_tickers(TICKERS)
    before = store_checksum(db)
    with MarketStore(db) as again:
        assert again.schema_version == LATEST_VERSION
        assert len(again.tickers()) == len(TICKERS)
    assert store_checksum(db) == before


def test_version_1_file_migrates_keeping_its_data(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0][1])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO tickers (code, name, market, kind, sector_id) VALUES ('005930', '삼성전자', 'KOSPI', "
                 "'common', 0)")
    conn.execute("INSERT INTO prices VALUES ('005930', 20240102, 78200, 79800, 78200, 79600, 17142847, 0)")
    conn.execute("INSERT INTO index_prices VALUES ('KOSPI', 20240102, 2645.47, 2676.33, 2641.64, 2669.81)")
    conn.commit()
    conn.close()
    assert "predictions" not in _tables(db)

    with MarketStore(db) as s:
        assert s.schema_version == LATEST_VERSION
        assert s.get_ticker("005930") == Ticker("005930", "삼성전자", "KOSPI", K.COMMON, 0)
        panel = s.load_panel()
        assert panel.codes == ["005930"] and panel.close[0, 0] == 79600
        assert s.load_index("KOSPI")["close"].iloc[0] == pytest.approx(2669.81)
        s.conn.execute("INSERT INTO job_runs (job, started_at, status) VALUES ('x', 'now', 'ok')")  # v2 table works
    assert {"predictions", "signals", "subscriptions", "job_runs"} <= _tables(db)


def test_newer_schema_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0][1])
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"newer kstock .*upgrade kstock"):
        MarketStore(db)
    assert db.read_bytes() == before  # refused before anything (even the WAL switch) touched the file


# --- bad files ------------------------------------------------------------------------------------


def test_text_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database\n" * 10, encoding="utf-8")
    with pytest.raises(StoreError, match="SQLite 파일이 아님") as info:
        MarketStore(path)
    assert "\n" not in str(info.value) and "--db" in str(info.value)
    assert path.read_text(encoding="utf-8") == "this is not a database\n" * 10
    assert not (tmp_path / "notes.txt-wal").exists()


def test_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="폴더입니다"):
        MarketStore(tmp_path)


def test_corrupt_sqlite_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(StoreError, match=r"broken\.db"):
        MarketStore(path)


def test_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with MarketStore(path) as s:
        assert s.schema_version == LATEST_VERSION


# --- upserts --------------------------------------------------------------------------------------


def test_price_upsert_is_idempotent(store: MarketStore, db: Path) -> None:
    prices = pd.concat([price_frame("005930", "2024-01-02", 30), price_frame("035720", "2024-01-02", 30, 50_000)])
    assert store.upsert_prices(prices) == 60
    before = store_checksum(db)
    assert store.upsert_prices(prices) == 0
    assert store.upsert_prices(prices.sample(frac=1, random_state=1)) == 0  # order does not matter
    assert store_checksum(db) == before


def test_ingest_twice_changes_no_data(store: MarketStore, db: Path) -> None:
    index = pd.DataFrame({"date": pd.bdate_range("2024-01-02", periods=20), "close": np.linspace(2600, 2700, 20)})
    data = MarketData(TICKERS, price_frame("005930", "2024-01-02", 20), {"kospi": index})
    assert store.ingest(data, source="test") == len(TICKERS) + 20 + 20
    before = data_checksum(db)
    assert store.ingest(data, source="test") == 0
    assert data_checksum(db) == before
    assert last_update(store)["rows_changed"] == 0
    assert store.index_names() == ["KOSPI"]


def test_overlapping_ranges_merge(store: MarketStore) -> None:
    full = price_frame("005930", "2024-01-01", 15)  # 2024-01-01 .. 2024-01-19
    first, second = full.iloc[:10], full.iloc[5:].copy()  # 5 days overlap, 5 days new
    second.loc[7, "close"] = 99_999.0  # 2024-01-10 corrected
    assert store.upsert_prices(first) == 10
    assert store.upsert_prices(second) == 5 + 1

    panel = store.load_panel()
    assert len(panel.dates) == 15
    frame = panel.frame("005930")
    np.testing.assert_array_equal(frame["close"].iloc[:5], first["close"].iloc[:5])  # old rows kept
    assert frame.loc["2024-01-10", "close"] == 99_999.0  # changed row updated
    assert frame.loc["2024-01-09", "close"] == first.loc[6, "close"]  # unchanged overlap untouched
    np.testing.assert_array_equal(frame["volume"].iloc[10:], full["volume"].iloc[10:])  # new rows added


def test_ticker_upsert_counts_real_changes(store: MarketStore) -> None:
    assert store.upsert_tickers(TICKERS) == 4
    assert store.upsert_tickers(TICKERS) == 0
    renamed = [*TICKERS[:3], Ticker("069500", "KODEX 200 (new)", "ETF", K.ETF, None)]
    assert store.upsert_tickers(renamed) == 1
    assert store.get_ticker("069500").name == "KODEX 200 (new)"
    assert [t.code for t in store.tickers(kinds=["common"])] == ["005930", "035720"]
    assert store.get_ticker("999999") is None


def test_ticker_upsert_keeps_known_industry(store: MarketStore) -> None:
    store.upsert_tickers(TICKERS[:1], industries={"005930": "전기전자"})
    assert store.upsert_tickers(TICKERS[:1]) == 0  # no industry given: the stored one is kept, nothing changes
    assert store.conn.execute("SELECT industry FROM tickers WHERE code = '005930'").fetchone()[0] == "전기전자"


def test_index_upsert_is_idempotent(store: MarketStore) -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "open": [2645.47, np.nan],
                          "high": [2676.33, 2660.0], "low": [2641.64, 2600.0], "close": [2669.81, 2607.31]})
    assert store.upsert_index("kospi", frame) == 2
    assert store.upsert_index("KOSPI", frame) == 0
    index = store.load_index("kospi")
    assert list(index.columns) == ["open", "high", "low", "close"]
    assert index.loc["2024-01-02", "close"] == pytest.approx(2669.81)
    assert np.isnan(index.loc["2024-01-03", "open"])
    assert store.load_index("KOSDAQ").empty


def test_failed_batch_leaves_the_store_as_it_was(store: MarketStore, db: Path) -> None:
    store.ingest(MarketData(TICKERS[:1], price_frame("005930", "2024-01-02", 5)), source="seed")
    before = store_checksum(db)
    bad = price_frame("035720", "2024-01-02", 5)
    bad.loc[3, "close"] = np.nan  # NOT NULL violated half-way through the batch
    with pytest.raises(sqlite3.Error):
        store.ingest(MarketData(TICKERS, bad), source="bad")
    assert store_checksum(db) == before
    assert not store.conn.in_transaction


# --- halts and the panel --------------------------------------------------------------------------


def test_halt_rows_are_stored_as_halts_and_nan_in_the_panel(store: MarketStore) -> None:
    prices = price_frame("005930", "2024-01-02", 5)
    prices.loc[2, ["open", "high", "low", "volume"]] = 0.0  # KRX halt row: close carried forward
    store.upsert_prices(prices)
    row = store.conn.execute(
        "SELECT open, high, low, close, volume, halted FROM prices WHERE code = '005930' AND date = 20240104"
    ).fetchone()
    assert row == (None, None, None, prices.loc[2, "close"], 0.0, 1)
    assert store.summary()["halt_days"] == 1

    panel = store.load_panel()
    assert panel.halted.tolist() == [[False, False, True, False, False]]
    assert np.isnan(panel.ohlcv[0, 2]).all()
    assert not panel.traded[0, 2] and panel.traded[0, [0, 1, 3, 4]].all()
    assert store.upsert_prices(prices) == 0  # halts are idempotent too


def test_panel_shape_order_and_gaps(store: MarketStore) -> None:
    store.upsert_tickers(TICKERS)
    a = price_frame("035720", "2024-01-02", 6, base=50_000)
    b = price_frame("005930", "2024-01-02", 6).drop(index=[1, 4])  # two missing days: gaps, not halts
    c = price_frame("069500", "2024-01-04", 2, base=35_000)
    store.upsert_prices(pd.concat([a, b, c]))
    panel = store.load_panel()
    assert panel.codes == ["005930", "035720", "069500"]  # ordered by code
    assert panel.ohlcv.shape == (3, 6, 5) and panel.ohlcv.dtype == np.float64
    assert panel.dates.dtype == np.dtype("datetime64[D]")
    assert (np.diff(panel.dates) > np.timedelta64(0, "D")).all()
    assert panel.sector_ids.tolist() == [0, 2, -1]
    assert np.isnan(panel.ohlcv[0, [1, 4]]).all() and not panel.halted[0].any()
    assert np.isnan(panel.ohlcv[2, [0, 1, 4, 5]]).all()
    np.testing.assert_array_equal(panel.close[1], a["close"].to_numpy())
    np.testing.assert_array_equal(panel.ohlcv[1, :, OPEN], a["open"].to_numpy())
    np.testing.assert_array_equal(panel.ohlcv[1, :, VOLUME], a["volume"].to_numpy())
    assert panel.ohlcv[0, 0, CLOSE] == b["close"].iloc[0]


def test_panel_selection(store: MarketStore) -> None:
    store.upsert_prices(pd.concat([price_frame(code, "2024-01-01", 20) for code in ("000660", "005930", "035720")]))
    panel = store.load_panel(codes=["035720", "000660", "999999"], start="2024-01-05", end=np.datetime64("2024-01-12"))
    assert panel.codes == ["000660", "035720"]
    assert panel.dates[0] == np.datetime64("2024-01-05") and panel.dates[-1] == np.datetime64("2024-01-12")
    assert panel.ohlcv.shape == (2, 6, 5)
    assert panel.date_index("2024-01-08") == 1
    with pytest.raises(KeyError):
        panel.date_index("2024-01-06")  # a Saturday
    assert store.load_panel(codes=["999999"]).ohlcv.shape == (0, 0, 5)
    assert store.load_panel(start="2030-01-01").ohlcv.shape == (0, 0, 5)


def test_empty_store(store: MarketStore) -> None:
    panel = store.load_panel()
    assert panel.ohlcv.shape == (0, 0, 5) and panel.codes == []
    assert len(store.trading_days()) == 0
    summary = store.summary()
    assert summary["rows"] == 0 and summary["first_date"] is None and summary["last_update"] is None


def test_summary_and_trading_days(store: MarketStore) -> None:
    index = pd.DataFrame({"date": pd.to_datetime(["2023-12-28"]), "close": [2655.28]})
    store.ingest(MarketData(TICKERS, price_frame("005930", "2024-01-02", 3), {"KOSPI": index}), source="unit")
    s = store.summary()
    assert s["tickers"] == 4 and s["rows"] == 3
    assert s["first_date"] == "2024-01-02" and s["last_date"] == "2024-01-04"
    assert s["by_kind"] == {"common": 2, "etf": 1, "preferred": 1}
    assert s["by_market"] == {"ETF": 1, "KOSPI": 3}
    assert s["by_sector"] == {"전기전자": 1, "서비스업": 1}
    assert s["indices"]["KOSPI"] == {"rows": 1, "first_date": "2023-12-28", "last_date": "2023-12-28"}
    assert s["last_update"]["source"] == "unit" and s["last_update"]["status"] == "ok"
    assert [str(d) for d in store.trading_days()] == ["2023-12-28", "2024-01-02", "2024-01-03", "2024-01-04"]


def test_failed_update_is_logged_but_last_good_is_kept(store: MarketStore) -> None:
    store.ingest(MarketData(TICKERS[:1], price_frame("005930", "2024-01-02", 2)), source="pykrx")
    store.log_update("pykrx", 0, "failed", "ConnectionError")
    assert last_update(store)["status"] == "failed"
    assert last_good_update(store)["rows_changed"] == 3


# --- concurrency ----------------------------------------------------------------------------------


def test_write_while_another_writer_holds_the_lock(db: Path) -> None:
    with MarketStore(db, timeout=0.1) as first, MarketStore(db, timeout=0.1) as second:
        first.upsert_prices(price_frame("005930", "2024-01-02", 3))
        before = store_checksum(db)
        second.conn.execute("BEGIN IMMEDIATE")
        second.conn.execute("DELETE FROM data_updates")
        try:
            with pytest.raises(StoreError, match="잠그고 있습니다") as info:
                first.upsert_prices(price_frame("005930", "2024-01-05", 3))
            assert "다시 시도하세요" in str(info.value)
            with pytest.raises(StoreError, match="잠그고 있습니다"):
                first.ingest(MarketData(TICKERS, price_frame("035720", "2024-01-02", 3)), source="x")
            assert first.load_panel().ohlcv.shape == (1, 3, 5)  # readers are not blocked (WAL)
        finally:
            second.conn.execute("ROLLBACK")
        assert store_checksum(db) == before
        assert first.upsert_prices(price_frame("005930", "2024-01-05", 3)) == 3  # works once the lock is gone


def test_store_is_usable_from_another_thread(store: MarketStore) -> None:
    import threading

    errors: list[BaseException] = []

    def work() -> None:
        try:
            store.upsert_prices(price_frame("005930", "2024-01-02", 3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert not errors and store.summary()["rows"] == 3


def test_error_after_sqlite_rolled_back_is_not_hidden(store: MarketStore) -> None:
    """When SQLite has already rolled back (disk full, I/O error), the real error reaches the caller."""
    with pytest.raises(ValueError, match="the real problem"), store.transaction() as conn:
        conn.execute("INSERT INTO meta VALUES ('k', 'v')")
        conn.execute("ROLLBACK")  # what SQLite does by itself on SQLITE_FULL
        raise ValueError("the real problem")
    assert not store.conn.in_transaction
    assert store.conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0
    with store.transaction() as conn:  # and the store is still usable
        conn.execute("INSERT INTO meta VALUES ('k', 'v')")
    assert store.conn.execute("SELECT value FROM meta").fetchone()[0] == "v"


def test_a_transaction_inside_another_joins_it(store: MarketStore) -> None:
    """A step of the daily loop stores its result and its record through helpers that each open a transaction:
    inside the step's own, they join it — both are written, or (an error anywhere) neither."""
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.upsert_prices(price_frame("005930", "2024-01-02", 3))  # its own transaction, joined
        with store.transaction():
            conn.execute("INSERT INTO meta VALUES ('record', 'done')")
        assert conn.in_transaction  # the inner one did not commit the outer
        raise RuntimeError("killed before the end of the step")
    assert store.summary()["rows"] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'record'").fetchone()[0] == 0
    with store.transaction():
        store.upsert_prices(price_frame("005930", "2024-01-02", 3))
        with store.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('record', 'done')")
    assert store.summary()["rows"] == 3
    assert store.conn.execute("SELECT value FROM meta WHERE key = 'record'").fetchone()[0] == "done"
