"""The one exception family whose message is meant for the user.

Anything raised as a :class:`KstockError` is printed as one clear line by the CLI and sent as a
polite reply by the bot; anything else is a bug and is logged with its traceback.
"""

import errno as _errno
import re as _re


class KstockError(Exception):
    """A problem the user can act on; ``str(exc)`` says what is wrong and what to do."""


# ---- write failures and what may be shown in a chat -------------------------------------------------------


#: What a user or admin is told when a file could not be written (disk full, file-size limit, read-only disk…).
WRITE_FAILED_KO = "디스크 공간 부족 또는 쓰기 실패"

#: errno values that mean "the disk (or a limit) refused the write", whichever library hit them.
_WRITE_ERRNOS = frozenset(
    getattr(_errno, name) for name in ("ENOSPC", "EFBIG", "EDQUOT", "EROFS", "EIO") if hasattr(_errno, name)
)
#: Text by which XGBoost, LightGBM and torch report a failed write (they raise their own types, not OSError).
_WRITE_WORDS = _re.compile(
    r"FileStream\.Write|write incomplete|failed to write|cannot write|could not write|unable to write|"
    r"PytorchStreamWriter|file write failed|No space left|File too large|Disk quota|Read-only file system|"
    r"database or disk is full",
    _re.IGNORECASE,
)
_PATH = _re.compile(r"(?:[A-Za-z]:)?(?:~|\.{1,2})?(?:/[\w.+@%-]+){2,}/?|(?:\.{0,2}/)?[\w.-]+/[\w./-]*\.\w+")
_TRACE = _re.compile(r"Stack trace:|\[bt\]|Traceback \(most recent call last\)|^\s+File \"", _re.MULTILINE)


def is_write_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says a file could not be written — disk full, the file-size
    limit (``ulimit -f``: EFBIG), a quota or a read-only disk — whichever library raised it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _WRITE_ERRNOS:
            return True
        if _WRITE_WORDS.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def public_text(text: str, limit: int = 200) -> str:
    """``text`` made fit for a chat: its first line, before any native stack trace, with file paths
    replaced by ``…`` and cut to ``limit`` characters — never a stack trace or a server path."""
    match = _TRACE.search(text)
    first = (text[: match.start()] if match else text).strip().splitlines()
    line = _PATH.sub("…", first[0] if first else "").strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


#: What a chat reads for an error raised inside a model library (its own text goes to the log only).
LIBRARY_FAILED_KO = "모델 라이브러리 내부 오류 (자세한 내용은 로그에 있습니다)"
#: Libraries whose exceptions carry native text (C++ asserts, stack traces, build paths).
_NATIVE_LIBRARIES = frozenset({"xgboost", "lightgbm", "torch"})
_NATIVE_WORDS = _re.compile(r"Check failed|Stack trace:|\[bt\]|enforce fail|\[Fatal\]|\[LightGBM\]")


def public_reason(exc: BaseException) -> str:
    """One short line about ``exc`` that may go to a chat: the Korean write-failure phrase for a failed
    write, the message of a :class:`KstockError`, a Korean phrase for a model library's own error (never its
    native text), else the exception's type and first line."""
    if is_write_failure(exc):
        return WRITE_FAILED_KO
    if isinstance(exc, KstockError):
        return public_text(str(exc))
    if type(exc).__module__.partition(".")[0] in _NATIVE_LIBRARIES or _NATIVE_WORDS.search(str(exc)):
        return LIBRARY_FAILED_KO
    return public_text(f"{type(exc).__name__}: {exc}")
