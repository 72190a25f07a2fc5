"""The market store: one SQLite file (WAL) holding tickers, daily prices, index series and app state.

Everything else reads market data through here. Writes are idempotent upserts (importing the same
data twice changes nothing; overlapping ranges merge), each batch in one transaction so a failure
leaves the store as it was. :meth:`MarketStore.load_panel` is the fast path that turns the prices
table into dense numpy arrays for the models.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from kstock.market.completeness import DEFAULT_MIN_COVERAGE, last_complete_day
from kstock.market.dates import from_yyyymmdd, to_yyyymmdd, utc_stamp
from kstock.market.migrations import LATEST_VERSION, MIGRATIONS
from kstock.market.store_connections import ThreadConnections, configure
from kstock.market.store_files import StoreError, check_is_sqlite, explain
from kstock.market.store_panel import price_rows, read_panel_rows, to_panel
from kstock.market.store_reads import CODES_CTE
from kstock.market.types import InstrumentKind, MarketData, Panel, Ticker


class MarketStore:
    """SQLite-backed market store. Open with a path; the schema is migrated on open."""

    #: ``KSTOCK_MIN_COVERAGE``: the share of the active universe a day needs to count (set by the services)
    min_coverage: float = DEFAULT_MIN_COVERAGE

    def __init__(self, path: str | Path, *, timeout: float = 10.0, readonly: bool = False,
                 create: bool = True) -> None:
        """Open (and migrate) the store at ``path``.

        ``readonly``: for commands that only read — the file must exist, is opened with SQLite's
        ``mode=ro`` (so nothing can be written, and a read-only file works) and is not migrated.
        ``create=False``: refuse a file that does not exist instead of creating an empty store (a mistyped
        ``--db`` would otherwise become a new, empty store that "knows no stock").
        """
        self.path = Path(path)
        self.readonly = readonly
        self.lock = threading.RLock()  # one transaction at a time in this process (bot threads)
        check_is_sqlite(self.path)
        if (readonly or not create) and not self.path.exists():
            raise StoreError(f"저장소 {self.path}이(가) 없습니다 (`KSTOCK_DB` / `--db`); "
                             "`kstock data synth`, `kstock data import` 또는 `kstock data update`로 만드세요")
        self._connections = ThreadConnections(self.path, readonly=readonly, timeout=timeout)
        try:
            self._refuse_newer_schema()  # before anything (even the WAL switch) touches the file
            if readonly:
                self._upgrade_for_reading(timeout)
                self._refuse_unreadable_schema()
                configure(self.conn, readonly=True)
                return
            self.conn.execute("PRAGMA journal_mode=WAL")
            configure(self.conn, readonly=False)
            self._migrate()
        except (sqlite3.DatabaseError, StoreError) as exc:
            self.close()  # a refused file (newer schema, corrupt, locked) is not left open
            if isinstance(exc, StoreError):
                raise
            raise StoreError(explain(self.path, exc)) from exc

    def _upgrade_for_reading(self, timeout: float) -> None:
        """A store from an older kstock, opened to read: migrate it once (a schema upgrade, as any writing
        command would) so the reads find today's tables; on a file that cannot be written, read as it is."""
        if self.schema_version >= LATEST_VERSION:
            return
        try:
            MarketStore(self.path, timeout=timeout).close()
        except StoreError:
            return
        self._connections.reopen_main()

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (see :mod:`kstock.market.store_connections`: never one shared by threads)."""
        return self._connections.current()

    @property
    def total_changes(self) -> int:
        """Rows changed through this store object, by every thread (a cache key's "written since")."""
        return self._connections.total_changes()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long the store waits for another writer before it says "locked" (every thread's connection)."""
        self._connections.set_busy_timeout(seconds)

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> MarketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer_schema(self) -> None:
        current = self.schema_version
        if current > LATEST_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer kstock (schema {current} > {LATEST_VERSION}); upgrade kstock"
            )

    def _refuse_unreadable_schema(self) -> None:
        """A store opened to read that is still below today's schema (it could not be upgraded: read-only) is
        refused in one line — its reads would fail on a missing table ("no such table") half-way through."""
        current = self.schema_version
        if current >= LATEST_VERSION:
            return
        if current == 0:
            raise StoreError(f"{self.path}: kstock 저장소가 아닙니다 (빈 파일이거나 다른 프로그램의 파일). "
                             "KSTOCK_DB / --db 를 kstock 저장소 파일로 지정해 주세요.")
        raise StoreError(f"{self.path}: 이전 버전 kstock의 저장소(스키마 v{current}, 현재 v{LATEST_VERSION})인데 "
                         "쓸 수 없어 업그레이드하지 못했습니다. 쓰기 권한이 있는 곳에서 `kstock data status`를 한 번 "
                         "실행해 업그레이드한 뒤 다시 시도해 주세요.")

    def _migrate(self) -> None:
        self._refuse_newer_schema()
        current = self.schema_version
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            # executescript runs the whole step (comments and all) atomically inside our BEGIN/COMMIT
            self.conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")

    @contextmanager
    def transaction(self, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error (so a failed batch changes nothing).

        ``wait``: for a request a person is waiting on (a /subscribe), give up after this many seconds when
        another writer holds the store — another process, or another thread of this one — instead of the
        connection's busy timeout; the :class:`StoreError` then says it is locked. Without it, five chats
        subscribing while an import runs would each wait the full timeout, one after the other.

        Called inside a transaction this thread already holds, it joins it: the outer one commits or rolls
        back the whole (a step of the daily loop stores its result and its "done" record together).
        """
        if not self.lock.acquire(timeout=-1 if wait is None else wait):
            raise StoreError(explain(self.path, sqlite3.OperationalError("database is locked")))
        try:
            if self.conn.in_transaction:  # ours: the lock is held, and every transaction is begun under it
                yield self.conn
                return
            self._begin(wait)
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                # SQLite may already have rolled back (disk full, I/O error): a second ROLLBACK would raise
                # "no transaction is active" and hide the real error
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreError(explain(self.path, exc)) from exc
                raise
        finally:
            self.lock.release()

    def _begin(self, wait: float | None) -> None:
        """BEGIN IMMEDIATE, waiting at most ``wait`` seconds (else the busy timeout) for another writer."""
        previous = None
        if wait is not None:
            previous = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
            self.conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(explain(self.path, exc)) from exc
        finally:
            if previous is not None:
                self.conn.execute(f"PRAGMA busy_timeout = {int(previous)}")

    # -- writes ----------------------------------------------------------------------------------
    def upsert_tickers(self, tickers: Iterable[Ticker], industries: dict[str, str] | None = None) -> int:
        """Insert or update tickers; returns how many rows actually changed."""
        industries = industries or {}
        rows = [
            (t.code, t.name, t.name_en, t.market, str(t.kind), t.sector_id, industries.get(t.code),
             t.listing_date, t.delisting_date)
            for t in tickers
        ]
        sql = """
            INSERT INTO tickers (code, name, name_en, market, kind, sector_id, industry, listing_date, delisting_date)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(code) DO UPDATE SET name = excluded.name, name_en = COALESCE(excluded.name_en, name_en),
                market = excluded.market, kind = excluded.kind, sector_id = excluded.sector_id,
                industry = COALESCE(excluded.industry, industry), listing_date = excluded.listing_date,
                delisting_date = excluded.delisting_date
            WHERE (name, name_en, market, kind, sector_id, industry, listing_date, delisting_date)
                IS NOT (excluded.name, COALESCE(excluded.name_en, name_en), excluded.market, excluded.kind,
                        excluded.sector_id, COALESCE(excluded.industry, industry), excluded.listing_date,
                        excluded.delisting_date)
        """
        return self._write_many(sql, rows)

    def upsert_prices(self, prices: pd.DataFrame) -> int:
        """Upsert long-format prices (code, date, open, high, low, close, volume); returns rows changed.

        Halt rows (open = high = low = 0 and volume = 0, as KRX writes them) are stored with the
        carried close, NULL open/high/low and ``halted = 1``.
        """
        if prices.empty:
            return 0
        rows = price_rows(prices)
        sql = """
            INSERT INTO prices (code, date, open, high, low, close, volume, halted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(code, date) DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,
                close = excluded.close, volume = excluded.volume, halted = excluded.halted
            WHERE (open, high, low, close, volume, halted)
                IS NOT (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.halted)
        """
        return self._write_many(sql, rows)

    def upsert_index(self, name: str, frame: pd.DataFrame) -> int:
        """Upsert an index series (date, close and optionally open/high/low)."""
        if frame.empty:
            return 0
        dates = to_yyyymmdd(frame["date"]).tolist()
        def column(c: str) -> list:
            if c not in frame:
                return [None] * len(frame)
            values = frame[c].astype(float)
            return values.where(values.notna(), None).tolist()

        rows = [(name.upper(), *row) for row in zip(dates, column("open"), column("high"), column("low"),
                                                     frame["close"].astype(float).tolist(), strict=True)]
        sql = """
            INSERT INTO index_prices (name, date, open, high, low, close) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(name, date) DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,
                close = excluded.close
            WHERE (open, high, low, close) IS NOT (excluded.open, excluded.high, excluded.low, excluded.close)
        """
        return self._write_many(sql, rows)

    def ingest(self, data: MarketData, *, source: str, industries: dict[str, str] | None = None) -> int:
        """Store a whole batch from a source in one transaction and log the update."""
        return self.ingest_chunks(data, [data.prices], source=source, industries=industries)[1]

    def ingest_chunks(self, data: MarketData, price_chunks: Iterable[pd.DataFrame], *, source: str,
                      industries: dict[str, str] | None = None) -> tuple[int, int]:
        """:meth:`ingest` with the prices given as a stream of frames (``data.prices`` is ignored), so a
        source need not hold them all at once; still one transaction. Returns (rows given, rows changed)."""
        with self.transaction():
            changed = self.upsert_tickers(data.tickers, industries)
            rows = 0
            for chunk in price_chunks:
                rows += len(chunk)
                changed += self.upsert_prices(chunk)
            for name, frame in data.indices.items():
                changed += self.upsert_index(name, frame)
            self._log_update_in_tx(source, changed, "ok", None)
        return rows, changed

    def log_update(self, source: str, rows_changed: int, status: str, message: str | None = None) -> None:
        """Record a data update attempt (successful or not) so `data status` can show its age."""
        with self.transaction():
            self._log_update_in_tx(source, rows_changed, status, message)

    def _log_update_in_tx(self, source: str, rows_changed: int, status: str, message: str | None) -> None:
        self.conn.execute(
            "INSERT INTO data_updates (source, finished_at, rows_changed, status, message) VALUES (?, ?, ?, ?, ?)",
            (source, utc_stamp(), rows_changed, status, message),
        )

    def _write_many(self, sql: str, rows: Sequence[tuple]) -> int:
        """executemany inside the caller's transaction, or a new one; returns rows changed."""
        with self.lock:  # reentrant: a thread already inside transaction() holds it
            before = self.conn.total_changes
            try:
                if self.conn.in_transaction:
                    self.conn.executemany(sql, rows)
                else:
                    with self.transaction():
                        self.conn.executemany(sql, rows)
            except sqlite3.OperationalError as exc:
                raise StoreError(explain(self.path, exc)) from exc
            return self.conn.total_changes - before

    # -- reads -----------------------------------------------------------------------------------
    def tickers(self, kinds: Sequence[InstrumentKind | str] | None = None) -> list[Ticker]:
        """All tickers (optionally only some instrument kinds), ordered by code."""
        rows = self.conn.execute(
            "SELECT code, name, market, kind, sector_id, listing_date, delisting_date, name_en "
            "FROM tickers ORDER BY code"
        ).fetchall()
        out = [
            Ticker(code=r[0], name=r[1], market=r[2], kind=InstrumentKind(r[3]), sector_id=r[4],
                   listing_date=r[5], delisting_date=r[6], name_en=r[7])
            for r in rows
        ]
        if kinds is not None:
            wanted = {InstrumentKind(k) for k in kinds}
            out = [t for t in out if t.kind in wanted]
        return out

    def get_ticker(self, code: str) -> Ticker | None:
        return next((t for t in self.tickers() if t.code == code), None)

    def trading_days(self) -> np.ndarray:
        """Every day with at least one stored price or index row (datetime64[D], ascending)."""
        rows = self.conn.execute("SELECT DISTINCT date FROM prices UNION SELECT date FROM index_prices").fetchall()
        return np.sort(from_yyyymmdd([r[0] for r in rows]))

    def load_panel(
        self,
        codes: Sequence[str] | None = None,
        start: str | np.datetime64 | None = None,
        end: str | np.datetime64 | None = None,
        dtype: type[np.floating] = np.float64,
    ) -> Panel:
        """Prices as dense arrays (tickers × days × OHLCV); halts and gaps are NaN.

        The fast path: one ordered scan of the prices table's primary key streamed into numpy
        with ``np.fromiter`` (no per-row Python objects kept). With ``start`` the read seeks each
        code's date range in the key instead of scanning every stored row, so a recent window costs
        the same whatever the history. ``dtype=np.float32`` halves the panel (serving reads it so;
        the features are still computed in float64).
        """
        lo = int(to_yyyymmdd([np.datetime64(start, "D")])[0]) if start is not None else 0
        hi = int(to_yyyymmdd([np.datetime64(end, "D")])[0]) if end is not None else 99991231
        # with ``start``: seek each candidate code's range in the key (a recent window touches its own rows only)
        seek = None if start is None else (sorted(set(codes)) if codes is not None else self.price_codes())
        all_codes, counts, rows = read_panel_rows(self.conn, codes, lo, hi, seek)
        return to_panel(all_codes, counts, rows, self._sector_ids(all_codes), dtype)

    def price_codes(self) -> list[str]:
        """Every code with stored prices, ordered: one primary-key seek per code, not a scan of every row."""
        rows = self.conn.execute(f"WITH RECURSIVE {CODES_CTE} SELECT code FROM c WHERE code IS NOT NULL").fetchall()
        return [r[0] for r in rows]

    def last_price_date(self) -> np.datetime64 | None:
        """The store's last trading day: its last complete day (:mod:`~kstock.market.completeness`), so rows
        of a partial drop or a stray day ahead never become the serving window's last day."""
        last = last_complete_day(self)
        return None if last is None else from_yyyymmdd([last])[0]

    def index_day_before(self, last: np.datetime64, days: int) -> np.datetime64 | None:
        """The ``days``-th stored index day counting back from ``last`` (None when the index is shorter):
        where a window of that many trading days starts, read from the small index table."""
        rows = self.conn.execute(
            "SELECT DISTINCT date FROM index_prices WHERE date <= ? ORDER BY date DESC LIMIT ?",
            (int(to_yyyymmdd([last])[0]), days),
        ).fetchall()
        return from_yyyymmdd([rows[-1][0]])[0] if len(rows) == days else None

    def first_price_date(self) -> np.datetime64 | None:
        """The oldest stored price day (a seek per code, like :meth:`last_price_date`)."""
        row = self.conn.execute(
            f"WITH RECURSIVE {CODES_CTE} SELECT MIN((SELECT MIN(date) FROM prices p WHERE p.code = c.code)) "
            "FROM c WHERE code IS NOT NULL"
        ).fetchone()
        return None if row[0] is None else from_yyyymmdd([row[0]])[0]

    def _sector_ids(self, codes: Sequence[str]) -> np.ndarray:
        lookup = dict(self.conn.execute("SELECT code, sector_id FROM tickers").fetchall())
        return np.array([-1 if lookup.get(c) is None else lookup[c] for c in codes], dtype=np.int64)

    def load_index(self, name: str = "KOSPI") -> pd.DataFrame:
        """An index series as a frame indexed by date (open, high, low, close); empty when absent."""
        rows = self.conn.execute(
            "SELECT date, open, high, low, close FROM index_prices WHERE name = ? ORDER BY date", (name.upper(),)
        ).fetchall()
        frame = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close"])
        frame.index = pd.DatetimeIndex(from_yyyymmdd(frame.pop("date").to_numpy()), name="date")
        return frame.astype(float)

    def index_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM index_prices ORDER BY name")]

    def prune_after(self, day: int) -> dict[str, int]:
        """Delete price and index rows dated after ``day`` (yyyymmdd) in one transaction; returns the counts."""
        with self.transaction() as conn:
            prices = conn.execute("DELETE FROM prices WHERE date > ?", (day,)).rowcount
            index = conn.execute("DELETE FROM index_prices WHERE date > ?", (day,)).rowcount
            self._log_update_in_tx("prune", prices + index, "ok", f"removed rows after {day}")
        return {"prices": int(prices), "index": int(index)}

    def summary(self) -> dict:
        """What the store holds, for `kstock data status` and the bot's /status (see :mod:`.store_summary`)."""
        from kstock.market.store_summary import summarize

        return summarize(self)

