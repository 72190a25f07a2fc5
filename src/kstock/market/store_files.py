"""The store's file: is it an SQLite store, opening it (read-only or not), and SQLite errors explained.

Kept apart from :mod:`kstock.market.store` (tables, reads, writes) so the file rules — a folder, an unreadable
path, not SQLite, locked, read-only, a folder nobody may write to — read in one place.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

from kstock.errors import KstockError

SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(KstockError, RuntimeError):
    """The store cannot be opened or written; the message says what to do."""

    @property
    def locked(self) -> bool:
        """True when another writer holds the store: the same request will work in a moment."""
        return LOCKED_WORDS in str(self)


#: The words every "locked by another writer" StoreError carries (see :func:`explain`).
LOCKED_WORDS = "다른 쓰기 작업이 잠그고 있습니다"


def open_connection(path: Path, *, readonly: bool, timeout: float) -> sqlite3.Connection:
    """The store's connection (``mode=ro`` when read-only); a path that cannot be opened names the setting."""
    try:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        if readonly:
            return _connect_readonly(path, timeout)
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except OSError as exc:
        raise StoreError(f"`KSTOCK_DB` / `--db` {path}: 그 자리에 저장소를 만들 수 없습니다 "
                         f"({exc.strerror or exc}); 쓸 수 있는 폴더의 파일 경로를 주세요") from None
    except sqlite3.Error as exc:
        raise StoreError(explain(path, exc)) from exc


def _connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """``mode=ro``; in a folder nobody may write to (no ``-shm`` can be created) a store with no pending
    WAL is opened ``immutable`` — it cannot change under a reader there anyway."""
    target = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, check_same_thread=False, uri=True)
    try:
        conn.execute("PRAGMA user_version").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    return sqlite3.connect(target + "&immutable=1", timeout=timeout, isolation_level=None,
                           check_same_thread=False, uri=True)


def check_is_sqlite(path: Path) -> None:
    """Refuse, with what to do, a path that is a folder, unreadable, or a file that is not SQLite."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:  # e.g. a path through a file, or a folder we may not read
        raise StoreError(f"`KSTOCK_DB` / `--db` {path}: 이 경로를 쓸 수 없습니다 ({exc.strerror or exc})") from None
    if path.is_dir():
        raise StoreError(f"{path}은(는) 폴더입니다; `KSTOCK_DB` / `--db`에는 `data/kstock.db` 같은 파일 경로를 주세요")
    if not stat.S_ISREG(mode):  # /dev/null, a FIFO, a socket: SQLite would "open" it and every read would fail
        raise StoreError(f"`KSTOCK_DB` / `--db` {path}: 일반 파일이 아니어서 (장치·FIFO·소켓) kstock 저장소로 쓸 수 "
                         "없습니다. `data/kstock.db` 같은 파일 경로를 지정해 주세요.")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            if fh.read(16) != SQLITE_MAGIC:
                raise StoreError(
                    f"{path}은(는) kstock 저장소가 아닙니다 (SQLite 파일이 아님); `--db` / `KSTOCK_DB`를 새 파일이나 "
                    "기존 저장소 파일로 지정하세요"
                )


def explain(path: Path, exc: sqlite3.Error) -> str:
    """An SQLite error as a StoreError message that says what to do (locked, corrupt, disk full, read-only…)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        # only the file name: this message reaches chat users, who need not see server paths
        return (f"저장소({path.name})를 {LOCKED_WORDS} (다른 kstock 프로세스?); "
                "끝난 뒤 다시 시도하세요")
    if "not a database" in text or "malformed" in text:
        return (f"{path}은(는) 쓸 수 없는 kstock 저장소입니다 ({text}); "
                "백업에서 복원하거나 `--db`를 새 파일로 지정하세요")
    if "disk" in text or "full" in text:
        return f"저장소({path.name})에 쓸 수 없습니다: {text}; 디스크 공간을 비우고 다시 시도하세요"
    if "readonly" in text or "read-only" in text:
        return f"저장소({path.name})가 여기서는 읽기 전용입니다: {text}"
    if "unable to open" in text:
        return f"`KSTOCK_DB` / `--db` {path}: 그 자리의 저장소를 열 수 없습니다; 쓸 수 있는 폴더의 파일 경로를 주세요"
    return f"저장소 {path.name}: {text}"
