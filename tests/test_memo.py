"""The caches' one shape (kstock.memo): a value is served only for the key it was computed for."""

from __future__ import annotations

import pytest

from kstock.memo import KeyedCache, Memo
from kstock.service.serving_window import ServingWindow


def test_a_memo_recomputes_for_another_key_and_keeps_nothing_on_failure() -> None:
    memo: Memo[int] = Memo()
    calls = []
    assert memo.get("a", lambda: calls.append("a") or 1) == 1
    assert memo.get("a", lambda: calls.append("again") or 2) == 1  # same key: kept
    assert memo.get("b", lambda: calls.append("b") or 3) == 3 and calls == ["a", "b"]
    with pytest.raises(RuntimeError):
        memo.get("c", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert memo.get("c", lambda: 4) == 4  # the failed key was not remembered
    memo.clear()
    assert memo.current is None and memo.get("c", lambda: 5) == 5


def test_a_keyed_cache_drops_one_kinds_entries() -> None:
    cache: KeyedCache[str] = KeyedCache()
    cache.get(("trees", "v1", 0), lambda: "t")
    cache.get(("lstm", "v1", 0), lambda: "l")
    with pytest.raises(ValueError):
        cache.get(("sector", "v1", 0), lambda: (_ for _ in ()).throw(ValueError("no")))
    assert sorted(cache) == [("lstm", "v1", 0), ("trees", "v1", 0)]  # a failure leaves no entry
    cache.drop("trees")
    assert list(cache) == [("lstm", "v1", 0)] and cache.get(("lstm", "v1", 0), lambda: "other") == "l"
    cache.clear()
    assert len(cache) == 0


class _Window:
    """A stand-in for ModelData: the serving window cache only reads ``dates``."""

    def __init__(self, days: int, tag: str) -> None:
        self.dates, self.tag = list(range(days)), tag


def test_the_serving_window_is_kept_for_its_key_and_a_new_one_drops_what_was_computed_from_the_old() -> None:
    refreshed: list[int] = []
    window = ServingWindow(on_refresh=lambda: refreshed.append(1))
    assert window.store_key is None
    first = window.recent((1,), 30, lambda: _Window(30, "a"))
    assert window.recent((1,), 20, lambda: _Window(20, "shorter")) is first  # a longer window serves a shorter ask
    assert window.past("2024-01-05", lambda: _Window(30, "past")).tag == "past"
    assert window.past("2024-01-05", lambda: _Window(30, "again")).tag == "past"  # keyed by its day
    assert window.recent((1,), 40, lambda: _Window(40, "longer")).tag == "longer"  # a longer sequence: again
    assert window.past("2024-01-05", lambda: _Window(30, "new past")).tag == "new past"  # dropped with it
    assert window.recent((2,), 40, lambda: _Window(40, "updated")).tag == "updated"  # a data update: again
    assert window.store_key == (2,) and len(refreshed) == 3
    with pytest.raises(RuntimeError):
        window.recent((3,), 40, lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert window.store_key == (2,) and len(refreshed) == 3  # a failure keeps the held window and its key


def test_a_serving_window_that_found_the_store_shorter_is_the_whole_store() -> None:
    window = ServingWindow()
    whole = window.recent((1,), 100, lambda: _Window(60, "whole"))  # the store holds 60 days only
    assert window.recent((1,), 200, lambda: _Window(60, "read again")) is whole
    assert window.recent((2,), 200, lambda: _Window(61, "next day")).tag == "next day"


def test_per_owner_keeps_one_value_per_live_owner_and_forgets_it_with_the_owner() -> None:
    import gc

    from kstock.memo import PerOwner

    class Owner:
        pass

    cache: PerOwner[int] = PerOwner()
    a, b = Owner(), Owner()
    calls: list[str] = []
    assert cache.get(a, 1, lambda: calls.append("a1") or 10) == 10
    assert cache.get(a, 1, lambda: calls.append("again") or 0) == 10  # same key: kept
    assert cache.get(b, 1, lambda: calls.append("b1") or 20) == 20  # another owner: its own value
    assert cache.get(a, 2, lambda: calls.append("a2") or 30) == 30  # another key: computed again
    assert calls == ["a1", "b1", "a2"]
    del a
    gc.collect()
    assert len(cache._memos) == 1  # the collected owner's value went with it
