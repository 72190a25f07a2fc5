"""Polite, retried calls to a remote data source, with failures sorted into what the user can act on.

Free market-data endpoints (KRX, Naver) throttle or block clients that hammer them, and home networks
drop. So every call waits a minimum interval after the previous one and is retried with exponential
backoff when the network fails (``requests.RequestException``). Two outcomes are *not* retried: an
answer that is not data (a JSON decode error: KRX answers ``LOGOUT`` to a session that is not logged
in — retrying cannot fix that) and any other exception (a bug or an odd answer, reported as is).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests

logger = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """The source could not deliver; whoever was updating gives up and leaves the store as it was."""


class SourceUnreachable(SourceError):
    """Still no answer after the retries; ``reason`` is a short, credential-free description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceRefused(SourceError):
    """The source answered, but not with data (for KRX: not logged in, or the login was rejected)."""


def network_reason(exc: BaseException) -> str:
    """A short cause for the user; never ``str(exc)``, which can carry URLs and request details."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "network unreachable"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


class PoliteCaller:
    """Runs calls at most one per ``min_interval`` seconds, retrying network failures ``retries`` times.

    The n-th retry waits ``backoff * 2**(n-1)`` seconds. ``sleep`` and ``clock`` are injectable so
    tests neither wait nor depend on timing.
    """

    def __init__(
        self,
        *,
        min_interval: float = 0.5,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._last_call: float | None = None

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with throttling and retries; raises a :class:`SourceError` subclass."""
        return self._run(what, fn, args, kwargs, throttle=True)

    def call_cached(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`call` but not throttled: for lookups the library answers from its own cache
        after one download (pykrx's ticker names), where waiting between calls only costs time."""
        return self._run(what, fn, args, kwargs, throttle=False)

    def _run(self, what: str, fn: Callable[..., Any], args: tuple, kwargs: dict, *, throttle: bool) -> Any:
        for n in range(self.retries + 1):
            if throttle:
                self._throttle()
            try:
                return fn(*args, **kwargs)
            except (json.JSONDecodeError, requests.exceptions.JSONDecodeError) as exc:
                raise SourceRefused(f"{what}: the source answered without data") from exc
            except requests.RequestException as exc:
                if n == self.retries:
                    raise SourceUnreachable(network_reason(exc)) from exc
                delay = self.backoff * 2**n
                logger.info("%s failed (%s); retry %d/%d in %.1fs", what, network_reason(exc), n + 1,
                            self.retries, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _throttle(self) -> None:
        if self._last_call is not None:
            wait = self._last_call + self.min_interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_call = self._clock()
