"""One daily loop per store at a time, whichever front door started it (cron's `kstock daily`, the bot's
jobs, an admin's /score).

The same mechanism as the bot's single-instance lock (:class:`kstock.bot.security.InstanceLock`): an
exclusive ``fcntl.flock`` on a file beside the store, ``<db>.loop.lock``. The kernel drops it when its
process ends, however it ends — a ``kill -9`` never leaves a lock behind. A second loop waits
:data:`LOCK_WAIT_S` seconds for the first, then gives up with :class:`LoopBusyError` ("이미 실행 중")
without doing any work. Two locks taken in one process (two threads) exclude each other as well: each
opens the file anew, and ``flock`` belongs to the open file.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from kstock.errors import KstockError

#: How long a second loop waits for the first before it says "이미 실행 중" and stops.
LOCK_WAIT_S = 5.0
_POLL_S = 0.05


class LoopBusyError(KstockError):
    """Another process (or thread) runs the daily loop on this store now."""


def lock_path(store_path: Path) -> Path:
    """``<db>.loop.lock`` beside the store: every front door on this machine finds the same file."""
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".loop.lock")


@contextlib.contextmanager
def loop_lock(store_path: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the store's loop lock for the ``with`` body; :class:`LoopBusyError` after ``wait`` seconds
    (default :data:`LOCK_WAIT_S`)."""
    import fcntl

    path = lock_path(store_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise KstockError(f"일일 작업 잠금 파일을 만들 수 없습니다 ({exc.strerror or exc}): 저장소 폴더에 쓰기 권한이 "
                          "있는지 확인하세요") from None
    try:
        _acquire(fd, LOCK_WAIT_S if wait is None else wait)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, wait: float) -> None:
    import fcntl

    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LoopBusyError(_busy_text(fd)) from None
            time.sleep(_POLL_S)


def _busy_text(fd: int) -> str:
    holder = ""
    with contextlib.suppress(OSError, ValueError):
        holder = os.pread(fd, 32, 0).decode().strip()
    who = f"다른 프로세스(pid {holder})" if holder.isdigit() else "다른 프로세스"
    return (f"이미 실행 중: 이 저장소의 일일 작업(데이터 갱신·채점)을 {who}가 하고 있습니다. "
            "끝난 뒤 다시 실행하세요.")
