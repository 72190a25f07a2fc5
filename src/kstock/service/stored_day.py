"""The day's scoring on disk, beside the store: what a cold `kstock analyze` answers from without a model.

The daily scoring predicts the whole market with every serving model. A `kstock analyze` run from a
shell afterwards would import torch, LightGBM and XGBoost (most of its 4–5 s on the full market) only
to predict the same day again. So the scoring also writes that day's prediction — every member's
outputs and extras, the ensemble's score, percentile and calls, the band table, the tree score's
feature rows and TreeSHAP contributions — to ``<db>.day.npz``, under a key naming everything those
numbers depend on: the store's last data update, each model kind's serving pointer and version (and
the ensemble's weights version), whether torch can load, the settings that change a number, the model
libraries' versions and kstock's own source. A process that has not loaded any model reads it back
only when that key is the same now and the served versions' files still pass their checksums; any
other file — none, damaged, foreign, another day, a retrained model — is a miss, and the day is
predicted as before. `analyze` then runs the same code on the same arrays, so the answer is the one
the models give (tests/test_stored_day.py compares the two texts). Writing goes to a temporary name,
then a rename: a reader never sees half a file. A store in a read-only folder simply gets none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kstock.market.store import MarketStore
from kstock.ml.base import MemberOutput
from kstock.ml.data import ModelData
from kstock.ml.evaluation.calibration import CalibrationTable
from kstock.ml.models import TORCH_MISSING, known_kinds
from kstock.ml.window_cache import last_update
from kstock.service.day_prediction import DayExplanation, DayPrediction, explain_day

if TYPE_CHECKING:
    from kstock.service.context import Services

log = logging.getLogger(__name__)

FORMAT = 1
#: Settings that never change a number of the day's prediction (where messages go, when jobs run, logins).
_NOT_IN_KEY = frozenset({"telegram_bot_token", "telegram_api_base_url", "admin_ids", "allowed_chat_ids", "krx_id",
                         "krx_pw", "log_level", "update_time", "score_time", "push_time", "analyze_per_minute",
                         "chart_size", "csv_dir", "data_source", "db_path", "model_dir"})
#: Libraries whose versions the models' outputs depend on (read from their metadata, never imported).
_LIBRARIES = ("numpy", "lightgbm", "xgboost", "torch")


@dataclass
class StoredDay:
    """One scored day read back: the prediction and the window it was made on."""

    codes: list[str]
    first: np.datetime64  # the serving window's first and last day
    last: np.datetime64
    sequence_days: int  # the longest sequence the serving models read (sizes the window)
    prediction: DayPrediction


def day_path(store: MarketStore) -> Path:
    return store.path.with_name(store.path.name + ".day.npz")


def serving_key(services: Services) -> str:
    """Everything the stored numbers depend on, as it stands now (no model is loaded to find out)."""
    registry = services.registry
    models = {}
    for kind in [*known_kinds(), "ensemble"]:
        current = registry.current(kind)
        models[kind] = [registry.pointer(kind), current.version if current else None]
    settings = {k: str(v) for k, v in dataclasses.asdict(services.settings).items() if k not in _NOT_IN_KEY}
    return json.dumps({"format": FORMAT, "update": last_update(services.store), "models": models,
                       "torch": importlib.util.find_spec("torch") is not None, "settings": settings,
                       "libraries": _library_versions(), "code": _code_digest()}, sort_keys=True)


def save(services: Services, data: ModelData, pred: DayPrediction) -> None:
    """Write the day the scoring just predicted, when it is the window's last day (an older day re-scored by
    hand leaves the file alone) and every kind served its current version (or was never trained, or cannot
    run without torch) — else drop the file: a day predicted by a fallback version is not what it would name.

    The key is taken first and checked against what predicted (the versions, the data update the window was
    read at), so a retrain or data update landing meanwhile leaves a file that no longer matches, never one
    whose key names numbers it does not hold. Never fails the scoring: at worst analyze predicts the day.
    """
    path = day_path(services.store)
    if pred.day != len(data.dates) - 1 or data is not services.model_data():  # an older day, or its own window
        return
    key = serving_key(services)
    named = json.loads(key)
    if not _storable(named["models"], pred) or services.data_key() != (named["update"] or [None])[:1]:
        _drop(path)
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        arrays = _arrays(pred, explain_day(services, pred, data))
        meta = {"versions": pred.versions, "unavailable": pred.unavailable, "weights": pred.weights,
                "table": pred.table.as_dict() if pred.table is not None else None, "members": sorted(pred.members),
                "extras": {n: sorted(o.extras) for n, o in pred.members.items() if o is not None},
                "sequence_days": services.sequence_days(), "day": pred.day}
        with tmp.open("wb") as fh:
            np.savez(fh, key=np.array(key), meta=np.array(json.dumps(meta)), codes=np.array(data.panel.codes),
                     first=data.dates[:1], last=data.dates[-1:], **arrays)
        os.replace(tmp, path)
    except Exception as exc:  # a read-only or full disk, a model that cannot explain: analyze predicts instead
        log.warning("could not write the stored day %s: %s", path.name, exc)
        _drop(tmp)
        _drop(path)


def _drop(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def stored_day(services: Services) -> StoredDay | None:
    """The stored day, when it was scored on the data and models serving now; else None. Read once per key
    (a process asks twice: for the window's length, then for the prediction)."""
    if services.models_loaded():
        return None  # a process with models (the bot) predicts, and caches, the day itself
    key = serving_key(services)
    return services.stored_day_memo.get(key, lambda: _read(day_path(services.store), key, services))


def stored_prediction(services: Services, data: ModelData, index: int) -> DayPrediction | None:
    """The stored prediction of day ``index`` of ``data``: only the window's last day, when the scoring
    predicted it on this very window."""
    if index != len(data.dates) - 1:
        return None
    day = stored_day(services)
    if day is None or day.codes != list(data.panel.codes) or day.prediction.day != index:
        return None
    if day.first != data.dates[0] or day.last != data.dates[-1]:
        return None
    return day.prediction


def stored_sequence_days(services: Services) -> int | None:
    day = stored_day(services)
    return None if day is None else day.sequence_days


# -- internals ------------------------------------------------------------------------------------
def _storable(models: dict[str, list], pred: DayPrediction) -> bool:
    """Every kind served the version the key names, or has none to serve (never trained / no torch): a day
    predicted by a fallback version, or with a model that failed, is not what a key of current versions names."""
    for kind in known_kinds():
        pointer, current = models[kind]
        if kind in pred.versions:
            if current != pred.versions[kind]:
                return False
        elif pointer is not None and pred.unavailable.get(kind) != TORCH_MISSING:
            return False
    return True


def _arrays(pred: DayPrediction, explanation: DayExplanation | None) -> dict[str, np.ndarray]:
    arrays = {"ens_probability": pred.ensemble.probability, "ens_score": pred.ensemble.score,
              "labels": np.asarray(pred.labels, dtype=str),
              "percentile": pred.percentile if pred.percentile is not None else np.empty(0),
              "has_percentile": np.array(pred.percentile is not None)}
    for name, out in pred.members.items():
        if out is None:
            continue
        arrays[f"m.{name}.probability"] = out.probability
        arrays[f"m.{name}.score"] = out.score
        arrays.update({f"m.{name}.x.{k}": v for k, v in out.extras.items()})
    if explanation is not None:
        arrays.update(x_names=np.array(explanation.feature_names), x_values=explanation.values,
                      x_contributions=explanation.contributions)
    return arrays


def _read(path: Path, key: str, services: Services) -> StoredDay | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            meta = json.loads(str(z["meta"]))
            day = _day_from(z, meta)
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:  # damaged: a miss
        if not isinstance(exc, FileNotFoundError):
            log.info("stored day %s unreadable (%s); predicting the day", path.name, exc)
        return None
    for kind in day.prediction.versions:  # the files the models would load are still those that predicted
        version = services.registry.current(kind)
        if version is None or services.registry.verify(version) is not None:
            return None
    return day


def _day_from(z: Any, meta: dict[str, Any]) -> StoredDay:
    members: dict[str, MemberOutput | None] = {}
    for name in meta["members"]:
        if f"m.{name}.score" not in z:
            members[name] = None
            continue
        extras = {k: z[f"m.{name}.x.{k}"] for k in meta["extras"][name]}
        members[name] = MemberOutput(z[f"m.{name}.probability"], z[f"m.{name}.score"], extras)
    explanation = None
    if "x_names" in z:
        explanation = DayExplanation(tuple(str(n) for n in z["x_names"]), z["x_values"], z["x_contributions"])
    codes = [str(c) for c in z["codes"]]
    table = CalibrationTable.from_dict(meta["table"]) if meta["table"] is not None else None
    if meta["table"] is not None and table is None:
        raise ValueError("band table unreadable")
    prediction = DayPrediction(
        int(meta["day"]), MemberOutput(z["ens_probability"], z["ens_score"]), z["labels"], members,
        dict(meta["versions"]), dict(meta["unavailable"]), {k: float(v) for k, v in meta["weights"].items()},
        z["percentile"] if bool(z["has_percentile"]) else None, table, explanation)
    return StoredDay(codes, z["first"][0], z["last"][0], int(meta["sequence_days"]), prediction)


_CODE_DIGEST: str | None = None


def _code_digest() -> str:
    """sha256 of kstock's own source files: a changed line of code never answers from an older day's file."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        root = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
        _CODE_DIGEST = digest.hexdigest()
    return _CODE_DIGEST


@functools.cache
def _library_versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for lib in _LIBRARIES:
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            out[lib] = None
    return out

