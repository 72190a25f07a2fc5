"""`Services`: what every front door shares — settings, the store, the registry, cached data and models.

Feature computation for the whole market and model loading are the expensive steps; both are cached
here and refreshed when the store's data or a model's serving version changes, so `/analyze` answers
from memory. Thread-safe: the bot runs services in worker threads.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.market.freshness import seoul_now
from kstock.market.repositories.meta import data_version
from kstock.market.sources import DataSource, source_from_settings
from kstock.market.store import MarketStore
from kstock.market.universe import TickerIndex
from kstock.memo import KeyedCache, Memo
from kstock.ml.data import (
    SERVING_MARGIN_DAYS,
    ModelData,
    prepare_model_data,
    prepare_recent_data,
    serving_window_days,
)
from kstock.ml.models import known_kinds, load_model, unavailable_reason
from kstock.ml.registry import UNREADABLE_POINTER, ModelRegistry, ModelVersion
from kstock.ml.window_cache import cached_recent_data
from kstock.service.serving_window import ServingWindow
from kstock.service.stored_day import stored_sequence_days

log = logging.getLogger(__name__)


@dataclass
class ServingModel:
    """A loaded serving model, or why there is none (``model`` is None then)."""

    name: str
    model: Any | None
    version: ModelVersion | None
    reason: str | None = None  # why there is no model — or, beside a model, why an older version serves
    key: tuple | None = None  # (what CURRENT said, the version it named) when loaded: a change reloads


class Services:
    def __init__(self, settings: Settings, store: MarketStore | None = None, source: DataSource | None = None) -> None:
        self.settings = settings
        self.store = store or MarketStore(settings.db_path)
        self.store.min_coverage = settings.min_coverage  # what counts as a complete day (market.completeness)
        self.registry = ModelRegistry(settings.model_dir)
        self._lock = threading.RLock()
        self._models: dict[str, ServingModel] = {}
        #: whole-market results of one day, keyed ``(what, version(s), window's first day, day)``: ``(kind, …)`` →
        #: that kind's MemberOutput, ``("ensemble-day", …)`` → the DayPrediction, ``("trees-shap", …)`` → the
        #: DayExplanation (kstock.service.predict); cleared with the serving window, a kind's dropped on retrain
        self.day_cache: KeyedCache[Any] = KeyedCache()
        #: the serving window, keyed (store key, window days), and a past day's, keyed by its day
        self._window = ServingWindow(on_refresh=self.day_cache.clear)
        #: the stored day read back (kstock.service.stored_day), keyed by its serving key
        self.stored_day_memo: Memo[Any] = Memo()
        self._index: Memo[TickerIndex] = Memo()  # keyed by the data update (_store_key)
        self.clock: Callable[[], dt.datetime] = seoul_now  # "now" for the source's clock (KST)
        self._source: DataSource | None = source  # None: the configured one (KSTOCK_DATA_SOURCE), made on first use

    def close(self) -> None:
        self.store.close()

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The trading day on the source's clock at ``now`` (default ``self.clock()``: the bot sets its clock;
        tests fake it) — the day the loop's scoring and the push are for."""
        return self.data_source().today(self.store, now or self.clock())

    def data_source(self) -> DataSource:
        """The configured source (``KSTOCK_DATA_SOURCE``): where updates come from, and its clock."""
        if self._source is None:
            self._source = source_from_settings(self.settings)
        return self._source

    # -- data ----------------------------------------------------------------------------------
    def _store_key(self) -> tuple:
        return (data_version(self.store),)

    def model_data(self, as_of: str | np.datetime64 | None = None) -> ModelData:
        """The serving data: the recent window the serving models need (float32), recomputed only after a
        data update or when a newly served model reads a longer sequence.

        Its last days' predictions equal those on the whole history (see ``serving_window_days``), and
        its cost does not grow with the years stored. ``as_of`` (a stored day before the window's exact
        days) gets a window of its own ending that day, kept until another is asked for. Both are kept in
        :class:`~kstock.service.serving_window.ServingWindow`, whose docstring writes their keys down.
        """
        with self._lock:
            key = self._store_key()
            days = serving_window_days(self.sequence_days())
            data = self._window.recent(key, days, lambda: self._compute_window(days))
            if as_of is None or self._exact_in(data, as_of, whole=len(data.dates) < days):
                return data
            try:
                day = np.datetime64(as_of, "D")
            except ValueError:
                return data  # the caller's date check says what is wrong with it
            first = self.store.first_price_date()
            if day > data.dates[-1] or first is None or day < first:
                return data  # not a stored day: the caller's lookup says so, with the stored range
            return self._window.past(day, lambda: prepare_recent_data(self.store, self.settings, days, end=day))

    def _compute_window(self, days: int) -> ModelData:
        log.info("computing features for the last %d trading days", days)
        return cached_recent_data(self.store, self.settings, days)  # read back once computed

    @staticmethod
    def _exact_in(data: ModelData, as_of: str | np.datetime64, whole: bool) -> bool:
        """``as_of`` is one of the window's days scored as on the whole history (any day, when the window
        is the whole store)."""
        try:
            day = np.datetime64(as_of, "D")
        except ValueError:
            return True
        first_exact = data.dates[0] if whole else data.dates[max(0, len(data.dates) - 1 - SERVING_MARGIN_DAYS)]
        return bool(first_exact <= day <= data.dates[-1])

    def sequence_days(self) -> int:
        """The longest run of days any serving model reads per prediction (1 for the trees).

        A process that has loaded no model yet (a cold `kstock analyze`) takes it from the day's stored
        scoring when that was made with the models serving now (:mod:`kstock.service.stored_day`).
        """
        if not self.models_loaded():
            stored = stored_sequence_days(self)
            if stored is not None:
                return stored
        models = [s.model for s in self.all_serving().values() if s.model is not None]
        return max((int(getattr(m, "history_days", 1)) for m in models), default=1)

    def training_data(self) -> ModelData:
        """What training reads: the last ``KSTOCK_TRAIN_YEARS`` years (all with 0), float64, not cached —
        a retrain holds it only while it runs, the bot's memory stays the serving window's."""
        start = None
        years = self.settings.train_years
        last = self.store.last_price_date()
        if years > 0 and last is not None:
            start = last - np.timedelta64(round(years * 365.25), "D")
        return prepare_model_data(self.store, self.settings, start=start)

    def history_data(self) -> ModelData:
        """The whole stored history (float64): the walk-forward evaluation's folds span it."""
        return prepare_model_data(self.store, self.settings)

    def ticker_index(self) -> TickerIndex:
        """Name/code resolver over the stored tickers (rebuilt after a data update)."""
        with self._lock:
            return self._index.get(self._store_key(), lambda: TickerIndex(self.store.tickers()))

    # -- models --------------------------------------------------------------------------------
    def serving(self, name: str) -> ServingModel:
        """The serving model of a kind, loaded once per version; never raises."""
        with self._lock:
            reason = unavailable_reason(name)
            if reason:
                return ServingModel(name, None, None, reason)
            version = self.registry.current(name)
            pointer = self.registry.pointer(name)
            if version is None and pointer is None:
                return ServingModel(name, None, None, "아직 학습되지 않음 (`kstock train " + name + "`으로 학습)")
            key = (pointer, version.version if version else None)
            cached = self._models.get(name)
            if cached is not None and cached.key == key:
                return cached
            loaded = self._load(name, version) if version is not None else None
            if loaded is None or loaded.model is None:
                # CURRENT is garbled or names a missing/corrupt version: serve the newest kept version whose
                # checksums hold, and say why (a retrain writes a new CURRENT)
                loaded = self._fall_back(name, pointer, version, loaded)
            loaded.key = key
            self._models[name] = loaded
            return loaded

    def _load(self, name: str, version: ModelVersion) -> ServingModel:
        problem = self.registry.verify(version)  # before loading: a truncated file can crash a library
        if problem:
            log.warning("model %s %s is unusable: %s", name, version.version, problem)
            return ServingModel(name, None, version, f"{problem} (`kstock train {name}`으로 다시 학습)")
        try:
            return ServingModel(name, load_model(name, version.path, self.settings), version)
        except Exception as exc:  # a corrupt artifact means "unavailable", never a crash
            log.warning("model %s %s is unusable: %s", name, version.version, exc)
            why = f"모델 파일을 읽을 수 없음 ({type(exc).__name__}; `kstock train {name}`으로 다시 학습)"
            return ServingModel(name, None, version, why)

    def _fall_back(self, name: str, pointer: str | None, version: ModelVersion | None,
                   failed: ServingModel | None) -> ServingModel:
        if failed is not None:
            problem = failed.reason or "사용할 수 없음"
        elif pointer == UNREADABLE_POINTER:
            problem = "서비스 버전 표시 파일 `CURRENT`를 읽을 수 없음"
            problem += f" (`kstock train {name}`으로 다시 학습)"
        else:
            problem = f"서비스 버전 `{pointer}`이(가) 없거나 읽을 수 없음 (`kstock train {name}`으로 다시 학습)"
        previous = self.registry.last_good(name, skip=version.version if version else pointer)
        if previous is None:
            return ServingModel(name, None, version, problem)
        loaded = self._load(name, previous)
        if loaded.model is None:
            return ServingModel(name, None, version, problem)
        log.warning("model %s: %s — serving the previous version %s", name, problem, previous.version)
        loaded.reason = f"이전 버전 `{previous.version}`을(를) 서비스 중: {problem}"
        return loaded

    def data_key(self) -> list | None:
        """The data update (its id) the serving window was read at; None before any window."""
        key = self._window.store_key
        return None if key is None else list(key)

    def models_loaded(self) -> bool:
        """Whether this process has looked up (and loaded) its serving models yet."""
        return bool(self._models)

    def all_serving(self) -> dict[str, ServingModel]:
        return {name: self.serving(name) for name in known_kinds()}

    def forget_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)
            self.day_cache.drop(name)
