"""`Services`: what every front door shares — settings, the store, the registry, cached data and models.

Feature computation for the whole market and model loading are the expensive steps; both are cached
here and refreshed when the store's data or a model's serving version changes, so `/analyze` answers
from memory. Thread-safe: the bot runs services in worker threads.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from kstock.config import Settings
from kstock.market.store import MarketStore
from kstock.market.universe import TickerIndex
from kstock.ml.data import ModelData, prepare_model_data
from kstock.ml.models import known_kinds, model_loader, unavailable_reason
from kstock.ml.registry import ModelRegistry, ModelVersion

log = logging.getLogger(__name__)


@dataclass
class ServingModel:
    """A loaded serving model, or why there is none (``model`` is None then)."""

    name: str
    model: Any | None
    version: ModelVersion | None
    reason: str | None = None


class Services:
    def __init__(self, settings: Settings, store: MarketStore | None = None) -> None:
        self.settings = settings
        self.store = store or MarketStore(settings.db_path)
        self.registry = ModelRegistry(settings.model_dir)
        self._lock = threading.RLock()
        self._data: ModelData | None = None
        self._data_key: tuple | None = None
        self._models: dict[str, ServingModel] = {}
        self.day_cache: dict[tuple, Any] = {}  # (model, version, day) → MemberOutput for the whole market
        self._index: TickerIndex | None = None
        self._index_key: tuple | None = None

    def close(self) -> None:
        self.store.close()

    # -- data ----------------------------------------------------------------------------------
    def _store_key(self) -> tuple:
        row = self.store.conn.execute("SELECT MAX(id) FROM data_updates").fetchone()
        return (row[0],)

    def model_data(self) -> ModelData:
        """Features and labels for the whole stored market, recomputed only after a data update."""
        with self._lock:
            key = self._store_key()
            if self._data is None or key != self._data_key:
                log.info("computing features for the stored market")
                self._data = prepare_model_data(self.store, self.settings)
                self._data_key = key
                self.day_cache.clear()
            return self._data

    def ticker_index(self) -> TickerIndex:
        """Name/code resolver over the stored tickers (rebuilt after a data update)."""
        with self._lock:
            key = self._store_key()
            if self._index is None or key != self._index_key:
                self._index = TickerIndex(self.store.tickers())
                self._index_key = key
            return self._index

    # -- models --------------------------------------------------------------------------------
    def serving(self, name: str) -> ServingModel:
        """The serving model of a kind, loaded once per version; never raises."""
        with self._lock:
            reason = unavailable_reason(name)
            if reason:
                return ServingModel(name, None, None, reason)
            version = self.registry.current(name)
            if version is None:
                pointer = self.registry.pointer(name)
                if pointer is None:
                    return ServingModel(name, None, None, "not trained yet (run `kstock train " + name + "`)")
                # CURRENT names a version whose folder or meta.json is gone or corrupt
                return ServingModel(name, None, None, f"unavailable (serving version {pointer} is missing or "
                                                      f"unreadable; run `kstock train {name}`)")
            cached = self._models.get(name)
            if cached and cached.version and cached.version.version == version.version:
                return cached
            problem = self.registry.verify(version)  # before loading: a truncated file can crash a library
            if problem:
                log.warning("model %s %s is unusable: %s", name, version.version, problem)
                loaded = ServingModel(name, None, version, f"unavailable ({problem}; run `kstock train {name}`)")
            else:
                try:
                    model = model_loader(name)(version.path)
                    loaded = ServingModel(name, model, version)
                except Exception as exc:  # a corrupt artifact means "unavailable", never a crash
                    log.warning("model %s %s is unusable: %s", name, version.version, exc)
                    why = f"unavailable (model files unreadable: {type(exc).__name__})"
                    loaded = ServingModel(name, None, version, why)
            self._models[name] = loaded
            return loaded

    def all_serving(self) -> dict[str, ServingModel]:
        return {name: self.serving(name) for name in known_kinds()}

    def forget_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)
            self.day_cache = {k: v for k, v in self.day_cache.items() if k[0] != name}
