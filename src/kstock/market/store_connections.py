"""One SQLite connection per thread for a store shared by the bot's threads.

CPython's ``sqlite3`` connection is not safe to use from several threads at once: two bot threads reading
through one shared connection crashed the whole process (a segmentation fault in the connection's statement
cache, seen in CI). The opening thread keeps its connection; every other thread gets its own on first use.
WAL lets them read side by side; :attr:`kstock.market.store.MarketStore.lock` still lets one transaction at
a time begin in the process.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from kstock.market.store_files import StoreError, explain, open_connection


class ThreadConnections:
    """The store's connections: the opening thread's (``main``) and one per other thread that used it."""

    def __init__(self, path: Path, *, readonly: bool, timeout: float) -> None:
        self.path = path
        self.readonly = readonly
        self.timeout = timeout
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._others: list[sqlite3.Connection] = []
        self._guard = threading.Lock()  # the list only (never held while SQLite waits)
        self.main = open_connection(path, readonly=readonly, timeout=timeout)

    def current(self) -> sqlite3.Connection:
        """This thread's connection, opened (and configured like the main one) on its first use."""
        if threading.get_ident() == self._owner:
            return self.main
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open_for_thread()
        return conn

    def _open_for_thread(self) -> sqlite3.Connection:
        try:
            conn = open_connection(self.path, readonly=self.readonly, timeout=self.timeout)
            configure(conn, readonly=self.readonly)
        except sqlite3.Error as exc:
            raise StoreError(explain(self.path, exc)) from exc
        self._local.conn = conn
        with self._guard:
            self._others.append(conn)
        return conn

    def reopen_main(self) -> None:
        """Open the main connection again (after the file was upgraded through another connection)."""
        self.main.close()
        self.main = open_connection(self.path, readonly=self.readonly, timeout=self.timeout)

    def set_busy_timeout(self, seconds: float) -> None:
        """How long every connection, now and later, waits for another writer before "locked"."""
        self.timeout = seconds
        with self._guard:
            for conn in (self.main, *self._others):
                conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def total_changes(self) -> int:
        """Rows changed through any of the store's connections since they opened (a write on one thread's
        connection must invalidate what another thread cached: :func:`kstock.market.repositories.meta.change_key`)."""
        with self._guard:
            return sum(conn.total_changes for conn in (self.main, *self._others))

    def close(self) -> None:
        with self._guard:
            for conn in self._others:
                conn.close()
            self._others.clear()
        self.main.close()


def configure(conn: sqlite3.Connection, *, readonly: bool) -> None:
    """The per-connection settings of every store connection (WAL itself is the file's, set once)."""
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        return
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
