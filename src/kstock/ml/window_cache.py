"""The serving window on disk, beside the store: computed once per data update, read by every process.

The daily scoring computes the recent window's features (seconds on the full market); a cold
``kstock analyze`` or a restarted bot afterwards reads the same arrays back (a fraction of a second)
instead of computing them again. The file is keyed by the store's last data update, the window's
length and everything the arrays depend on (feature list, label settings); any difference means a
miss, and the window is computed and the file replaced (written to a temporary name, then renamed, so
a reader never sees half a file). A store in a read-only folder simply gets no cache.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from kstock.config import Settings
from kstock.features.labels import Labels
from kstock.features.tabular import FEATURE_NAMES, FeatureCube
from kstock.market.repositories.meta import last_update_key
from kstock.market.store import MarketStore
from kstock.market.types import Panel
from kstock.ml.data import ModelData, prepare_recent_data

log = logging.getLogger(__name__)

FORMAT = 2  # 2: the market series past the index's end is the universe's return, not a flat fill
_LABELS = ("forward_return", "tradeable_return", "up", "rank", "three_class")


def cache_path(store: MarketStore) -> Path:
    return store.path.with_name(store.path.name + ".window.npz")


def last_update(store: MarketStore) -> list | None:
    """The store's last data update (id, finished_at, rows_changed): what names its data's version."""
    return last_update_key(store)


def cache_key(store: MarketStore, settings: Settings, days: int) -> str:
    """What the cached arrays depend on: the store's last update, the window, the features and labels."""
    return json.dumps({"format": FORMAT, "update": last_update(store), "days": days,
                       "features": list(FEATURE_NAMES), "horizon": settings.label_horizon,
                       "target": settings.target_return, "buy": settings.buy_threshold,
                       "sell": settings.sell_threshold})


def cached_recent_data(store: MarketStore, settings: Settings, days: int) -> ModelData:
    """:func:`~kstock.ml.data.prepare_recent_data` through the file beside the store."""
    path, key = cache_path(store), cache_key(store, settings, days)
    data = _read(path, key, store)
    if data is None:
        data = prepare_recent_data(store, settings, days)
        _write(path, key, data)
    return data


def _read(path: Path, key: str, store: MarketStore) -> ModelData | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            codes = [str(c) for c in z["codes"]]
            dates = z["dates"]
            panel = Panel(codes, dates, z["ohlcv"], z["halted"], z["sector_ids"])
            labels = Labels(*(z[name] for name in _LABELS), horizon=int(z["horizon"]))
            market = z["market_close"] if bool(z["has_market"]) else None
            features = FeatureCube(z["features"], codes, dates)
            universe = z["universe"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a damaged file is a miss
        if not isinstance(exc, FileNotFoundError):
            log.info("serving-window cache %s unreadable (%s); computing the window", path.name, exc)
        return None
    return ModelData(panel, features, labels, universe, market, {t.code: t for t in store.tickers()})


def _write(path: Path, key: str, data: ModelData) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    market = data.market_close if data.market_close is not None else np.empty(0)
    try:
        with tmp.open("wb") as fh:
            np.savez(fh, key=np.array(key), codes=np.array(data.panel.codes), dates=data.dates,
                     ohlcv=data.panel.ohlcv, halted=data.panel.halted, sector_ids=data.panel.sector_ids,
                     features=data.features.values, universe=data.universe, market_close=market,
                     has_market=np.array(data.market_close is not None), horizon=np.array(data.labels.horizon),
                     **{name: getattr(data.labels, name) for name in _LABELS})
        os.replace(tmp, path)
    except OSError as exc:  # a read-only or full disk: serve without a cache
        log.info("could not write the serving-window cache %s: %s", path.name, exc)
        tmp.unlink(missing_ok=True)
