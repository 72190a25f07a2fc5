"""Who may do what, how often, with how much input — and keeping the token out of logs.

- :func:`is_admin` / :func:`is_allowed`: admins (``KSTOCK_ADMIN_IDS``) may ``/retrain`` and ``/score``;
  ``KSTOCK_ALLOWED_CHAT_IDS``, when set, limits the bot to those chats (admins always pass).
- :class:`SlidingWindowLimiter`: one per-user limit shared by ``/analyze`` (its buttons), ``/signals`` and
  ``/performance`` (``KSTOCK_ANALYZE_PER_MINUTE``); only requests whose work ran count.
- :func:`check_query`: input length limits with a clear Korean message.
- :class:`TokenRedactor` / :func:`install_log_redaction`: the bot token never reaches a log line —
  not in httpx's request URLs, not in PTB's own debug lines, not in exception text.
- :class:`InstanceLock`: one polling process per bot token on this machine (``fcntl.flock`` on a file named
  by a hash of the token in :data:`LOCK_DIR`, wherever each bot's store is).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kstock.config import Settings
from kstock.errors import KstockError

log = logging.getLogger(__name__)

#: Longest accepted ``/analyze`` query (a Korean company name is at most ~20 characters).
MAX_QUERY_CHARS = 40


def is_admin(settings: Settings, user_id: int | None) -> bool:
    return user_id is not None and user_id in settings.admin_ids


def is_allowed(settings: Settings, chat_id: int | None, user_id: int | None) -> bool:
    """Everyone when no allow-list is set; otherwise listed chats, and admins wherever they are."""
    if not settings.allowed_chat_ids:
        return True
    return (chat_id is not None and chat_id in settings.allowed_chat_ids) or is_admin(settings, user_id)


def check_query(query: str, limit: int = MAX_QUERY_CHARS) -> str | None:
    """None when ``query`` is acceptable, else the Korean message to send back."""
    if len(query) > limit:
        return f"입력이 너무 깁니다 ({len(query)}자). 종목명이나 종목코드를 {limit}자 이내로 입력해 주세요."
    return None


def anon(chat_id: int | None) -> str:
    """A stable short tag for a chat in logs — chat ids of users never reach a log line."""
    if chat_id is None:
        return "chat#-"
    return "chat#" + hashlib.sha256(str(chat_id).encode()).hexdigest()[:8]


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a true sliding window of timestamps)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: Any) -> float | None:
        """Record an event for ``key``; None when allowed, else seconds until the next one is allowed."""
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(0.0, events[0] + self.window - now)
            events.append(now)
            if len(self._events) > 10_000:  # forget idle users so the table stays small
                self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self.window}
            return None

    def refund(self, key: Any) -> None:
        """Give back the last event of ``key``: the request it let through did no work (a rejected lookup,
        a near-miss suggestion, an answer from cache), so it does not count against the user."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()


class OncePer:
    """Remembers when each key was last let through; :meth:`first` is True at most once per ``period``.

    The bot answers a chat outside the allow-list once an hour, not once a message: a stranger (or a
    script) sending hundreds of messages gets one polite line, and the bot stays quiet after that.
    """

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic, limit: int = 10_000) -> None:
        self.period, self.clock, self.limit = period, clock, limit
        self._last: dict[Any, float] = {}
        self._lock = threading.Lock()

    def first(self, key: Any) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period:
                return False
            self._last[key] = now
            if len(self._last) > self.limit:  # forget old keys so the table stays small
                self._last = {k: t for k, t in self._last.items() if now - t < self.period}
            return True


# ---- the token never reaches a log line ---------------------------------------------------------------

_TOKEN_SHAPE = re.compile(r"\b(\d{3,}):[A-Za-z0-9_-]{20,}\b")  # any Bot-API-token-looking string


class TokenRedactor(logging.Filter):
    """Rewrites a record's message, arguments and exception text so no registered secret survives.

    Known secrets (the token, its secret half, their URL-encoded forms) become ``<redacted>``; anything
    else shaped like a bot token (``<digits>:<20+ url-safe chars>``) too. The record is rendered once
    here (``msg`` = the final text, ``args`` = ()), so every handler sees the same redacted text.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add_secret(self, token: str) -> None:
        token = token.strip()
        if not token:
            return
        forms = {token, quote(token, safe=""), quote(token)}
        secret = token.partition(":")[2]
        if len(secret) >= 5:
            forms.add(secret)
        self._secrets |= {f for f in forms if f}
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub("<redacted>", text)
        return _TOKEN_SHAPE.sub(r"\1:<redacted>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_kstock_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._kstock_redacted = True
        return True


REDACTOR = TokenRedactor()
_installed = False
_install_lock = threading.Lock()

#: Loggers that print request URLs (which carry the token) at INFO; kept at WARNING.
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler.executors.default")
#: PTB's DEBUG lines carry whole updates and API payloads (users' chat ids, message text): kept at INFO
#: even under ``kstock -v`` — chat ids of users never reach a log line.
PRIVATE_DEBUG_LOGGERS = ("telegram",)


def install_log_redaction(token: str, *, extra_handlers: Iterable[logging.Handler] = ()) -> TokenRedactor:
    """Redact ``token`` from every log record of this process, whichever logger or handler.

    A filter on a logger only sees records logged *to that logger* (not its children), so the
    redaction runs where every record is born: a wrapped log-record factory. The same
    :class:`TokenRedactor` is also attached to the root handlers (and ``extra_handlers``) as a second
    line for records built elsewhere. httpx/httpcore request lines are silenced below WARNING, and PTB's
    debug lines (whole updates: users' chat ids and messages) below INFO.
    """
    global _installed
    REDACTOR.add_secret(token)
    with _install_lock:
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                REDACTOR.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _installed = True
    for names, floor in ((NOISY_LOGGERS, logging.WARNING), (PRIVATE_DEBUG_LOGGERS, logging.INFO)):
        for name in names:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET or logger.level < floor:
                logger.setLevel(floor)
    for handler in (*logging.getLogger().handlers, *extra_handlers):
        if REDACTOR not in handler.filters:
            handler.addFilter(REDACTOR)
    return REDACTOR


# ---- one polling process per token ---------------------------------------------------------------------


class BotAlreadyRunningError(KstockError):
    """Another process holds this bot's instance lock."""


#: The one per-machine folder holding the bot locks (world-writable and sticky, like /tmp itself).
LOCK_DIR = Path("/tmp/kstock-locks")


def token_hash(token: str) -> str:
    """A short SHA-256 of the token: names its lock without ever writing the token down."""
    return hashlib.sha256(token.strip().encode()).hexdigest()[:24]


def lock_path(settings: Settings | None, token: str, folder: Path | None = None) -> Path:
    """``bot-<hash of the token>.lock`` in one per-machine folder: two bots with one token but different
    stores (or working folders) find the same lock. ``settings`` is kept for callers; the store's
    location no longer matters."""
    return (folder or LOCK_DIR) / f"bot-{token_hash(token)}.lock"


def _lock_dir(path: Path) -> None:
    """Create the lock folder so any user on the machine may add a lock to it (mode 1777, like /tmp)."""
    if path.parent.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o1777)


class InstanceLock:
    """An exclusive, non-blocking ``flock`` held for the life of the bot process.

    Two processes polling ``getUpdates`` with one token make Telegram answer 409 Conflict to each in
    turn; the second ``kstock bot`` on this machine exits at once with a clear message instead. The
    kernel drops the lock when the process dies, so a crash never leaves a stale lock behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        import fcntl

        try:
            _lock_dir(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError:  # another user's bot holds this token's lock file
            raise BotAlreadyRunningError("이 토큰의 다른 kstock 봇(다른 사용자의 것)이 이 컴퓨터에서 "
                                         f"이미 실행 중입니다; 먼저 멈추세요 (잠금 파일: {self.path})") from None
        except OSError as exc:
            raise KstockError(f"봇의 단일 실행 잠금 파일 {self.path}을(를) 만들 수 없습니다: "
                              f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 64, 0).decode().strip()
            os.close(fd)
            raise BotAlreadyRunningError(
                "이 토큰의 다른 kstock 봇이 이미 실행 중입니다"
                + (f" (pid {holder})" if holder.isdigit() else "")
                + f"; 먼저 멈추세요 — 한 토큰을 두 프로세스가 받으면 텔레그램이 409 Conflict로 답합니다 "
                f"(잠금 파일: {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
