"""The in-memory caches' one shape: a value kept with the key it was computed for.

Every cache in kstock is keyed by what its contents depend on, and a different key is a miss — never a stale
answer (docs/architecture.md, "Caches and what invalidates each", lists them). :class:`Memo` keeps one value
(the latest key's); :class:`KeyedCache` keeps one value per key until it is cleared or its entries are dropped;
:class:`PerOwner` keeps a :class:`Memo` for each live owner (a store), forgotten with it.
Each owner declares its cache as a field and writes its key down where it does; nobody patches a cache onto
an object from outside.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

V = TypeVar("V")
_MISSING: Any = object()


class Memo(Generic[V]):
    """One value and the key it was computed for; asking with another key computes (and keeps) it again."""

    def __init__(self) -> None:
        self._key: Any = _MISSING
        self._value: Any = None

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        if self._key is _MISSING or self._key != key:
            self._value, self._key = compute(), key  # the key is kept only once the value is there
        return self._value

    @property
    def current(self) -> V | None:
        """The kept value (None before the first ``get``)."""
        return self._value

    def clear(self) -> None:
        self._key, self._value = _MISSING, None


class KeyedCache(Generic[V]):
    """One value per key (tuples whose first item names what they hold), until cleared or dropped."""

    def __init__(self) -> None:
        self._items: dict[tuple, V] = {}

    def get(self, key: tuple, compute: Callable[[], V]) -> V:
        if key not in self._items:
            self._items[key] = compute()  # an exception leaves no entry: the next call tries again
        return self._items[key]

    def drop(self, first: Hashable) -> None:
        """Forget every entry whose key starts with ``first`` (e.g. one model kind after a retrain)."""
        self._items = {k: v for k, v in self._items.items() if k[0] != first}

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple]:
        return iter(list(self._items))


class PerOwner(Generic[V]):
    """One :class:`Memo` per live owner (a module-level cache of something computed from a store): each
    owner's value is kept with its key, and dropped when the owner is garbage-collected."""

    def __init__(self) -> None:
        self._memos: weakref.WeakKeyDictionary[Any, Memo[V]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # the map only; callers that must not compute twice hold their own lock

    def get(self, owner: Any, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            memo = self._memos.get(owner)
            if memo is None:
                memo = self._memos[owner] = Memo()
        return memo.get(key, compute)
