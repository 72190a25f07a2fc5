"""The caches' one shape (kstock.memo): a value is served only for the key it was computed for."""

from __future__ import annotations

import pytest

from kstock.memo import KeyedCache, Memo


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
