"""The Optuna storage that several ``kstock tune`` workers share, opened safely when they start together.

``optuna.create_study(storage=URL, load_if_exists=True)`` creates the storage's tables first, and two
workers started at the same moment on a fresh storage both try: one dies with "table studies already
exists" (SQLite) or an IntegrityError on ``alembic_version`` (PostgreSQL/MySQL). Optuna's maintainers
advise creating the storage once before the workers start (optuna/optuna#1092); a user who starts one
worker per machine cannot order them, so each worker does it safely itself:

* on a SQLite file, the tables are created under an exclusive file lock (``<db>.lock``) and connections
  wait up to :data:`SQLITE_TIMEOUT_S` for a writer instead of failing with "database is locked";
* on any URL (a server has no file to lock), a database error while creating the tables is retried: the
  worker that lost the race finds them created the next time.

The study itself is created once by ``create_study(load_if_exists=True)``: the worker that loses that
race gets Optuna's ``DuplicatedStudyError`` internally and loads the study the other one created.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kstock.errors import KstockError

log = logging.getLogger(__name__)

#: How long a SQLite connection waits for another worker's write (sqlite3's ``timeout``).
SQLITE_TIMEOUT_S = 60.0
#: Attempts to create the tables before giving up (a race is lost at most once or twice).
ATTEMPTS = 8


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///…`` URL; None for a server URL or an in-memory database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise KstockError(f"--storage {url!r}: Optuna 저장소 URL이 아닙니다 (예: sqlite:///optuna.db)") from exc
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_storage(url: str) -> Any:
    """An ``optuna.storages.RDBStorage`` on ``url`` whose tables exist, safe beside workers starting with it."""
    import optuna
    from sqlalchemy.exc import DBAPIError

    db = sqlite_file(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if db is not None else {}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with _file_lock(db):
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except DBAPIError as exc:  # another worker created the tables between the check and the create
            if attempt == ATTEMPTS:
                raise KstockError(f"Optuna 저장소를 열 수 없습니다: {type(exc.orig).__name__}: {exc.orig}") from exc
            log.info("optuna storage busy (%s); retrying", type(exc.orig).__name__)
            time.sleep(0.1 * attempt + random.random() * 0.2)  # jitter: workers that collided do not collide again
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _file_lock(db: Path | None) -> Iterator[None]:
    """An exclusive lock beside a SQLite file while its tables are created (nothing for a server URL)."""
    if db is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: the retry alone
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
