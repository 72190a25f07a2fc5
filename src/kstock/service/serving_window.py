"""The serving window's cache: the recent window of features every answer reads, and one past day's window.

:meth:`kstock.service.context.Services.model_data` asks it; computing a window (features for the whole
market over the days the serving models need) is the expensive step, so it is kept until its key changes.

**Key of the recent window: (store key, window days).** The store key is the data update the window was read
at (``Services._store_key``: ``data_version``); a different one is a miss. The window days are how many
trading days the serving models need (``serving_window_days``): a held window at least that long serves a
shorter ask as it is; a longer ask (a newly served model reads a longer sequence) computes it again — unless
the held window already found the store shorter than it asked for, so it is the whole store and a longer ask
would read the same days.

**Key of the past-day window: its day.** A ``--date`` before the recent window's exact days gets a window of
its own ending that day, one kept at a time (a :class:`~kstock.memo.Memo`), dropped with the recent window.

When the recent window is computed again, ``on_refresh`` runs: the owner clears what was computed from the
old window (``Services.day_cache``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from kstock.memo import Memo

if TYPE_CHECKING:
    from kstock.ml.data import ModelData

#: "no bound": the held window has not found the store shorter than itself
_UNBOUNDED = 1 << 30


class ServingWindow:
    """The recent window keyed by (store key, window days) and one past day's window keyed by its day."""

    def __init__(self, on_refresh: Callable[[], None] | None = None) -> None:
        self._recent: ModelData | None = None
        self._store_key: tuple | None = None
        self._whole_days = _UNBOUNDED  # the stored days, once a window found the store shorter than itself
        self._past: Memo[ModelData] = Memo()
        self._on_refresh = on_refresh

    @property
    def store_key(self) -> tuple | None:
        """The store key the held recent window was read at; None before any."""
        return self._store_key

    def recent(self, store_key: tuple, days: int, compute: Callable[[], ModelData]) -> ModelData:
        """The recent window of at least ``days`` trading days (or the whole store) read at ``store_key``;
        ``compute`` makes it on a miss (an exception keeps the held window and key as they were)."""
        held = self._recent
        if held is None or not self._holds(held, store_key, days):
            held = compute()
            self._recent, self._store_key = held, store_key
            self._whole_days = len(held.dates) if len(held.dates) < days else _UNBOUNDED
            self._past.clear()
            if self._on_refresh is not None:
                self._on_refresh()
        return held

    def past(self, day: Hashable, compute: Callable[[], ModelData]) -> ModelData:
        """The window ending on ``day``, kept until another day is asked for or the recent window changes."""
        return self._past.get(day, compute)

    def _holds(self, held: ModelData, store_key: tuple, days: int) -> bool:
        """Whether ``held`` answers (``store_key``, ``days``): read at that key, and long enough or the whole store."""
        return store_key == self._store_key and not len(held.dates) < days <= self._whole_days
