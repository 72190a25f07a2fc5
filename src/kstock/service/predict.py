"""Whole-market predictions for one day from every serving model, combined by the ensemble.

Predicting a whole day costs little more than one ticker (one batched call per model) and gives the
cross-section that percentiles, labels and `/signals` need, so it is done once per (model version,
day) and cached.
"""

from __future__ import annotations

import logging

import numpy as np

from kstock.errors import KstockError
from kstock.ml.base import MemberOutput
from kstock.ml.data import ModelData
from kstock.ml.ensemble import combine, daily_percentile
from kstock.ml.evaluation.calibration import CalibrationTable, calls_for
from kstock.procs import release_free_memory
from kstock.service.context import Services
from kstock.service.day_prediction import DayExplanation, DayPrediction, explain_day  # noqa: F401 — public here too
from kstock.service.serving import ensemble_weights, serving_table

log = logging.getLogger(__name__)


class NoModelError(KstockError):
    """No model is trained yet."""


def predict_day(services: Services, day: int, data: ModelData | None = None) -> DayPrediction:
    """Every serving model's real outputs for the whole market on ``day``, and their ensemble.

    ``day`` indexes ``data`` (default: the serving window, ``services.model_data()``).
    """
    data = services.model_data() if data is None else data
    members: dict[str, MemberOutput | None] = {}
    versions: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for name, serving in services.all_serving().items():
        if serving.model is None:
            members[name] = None
            unavailable[name] = serving.reason or "unavailable"
            continue
        key = (name, serving.version.version, str(data.dates[0]), day)  # the window's first day names it
        try:
            out = services.day_cache.get(key, lambda m=serving.model: _predict_day(m, data, day))
        except Exception as exc:  # one broken model must not take the others down
            log.warning("model %s failed to predict day %s: %s", name, day, exc, exc_info=True)
            members[name] = None
            unavailable[name] = f"예측 실패 ({type(exc).__name__})"
            continue
        members[name] = out
        versions[name] = serving.version.version
    if not versions:
        raise NoModelError(no_model_message(services, unavailable))
    # the ensemble, percentiles and calls of the market, once per (versions, window, day): each /analyze
    # used to redo them, and reading every name's call from the band table costs ~30 ms on the full market
    ensemble_version = services.registry.current("ensemble")  # its weights and table (with the members' metas)
    key = ("ensemble-day", tuple(sorted(versions.items())), tuple(sorted(unavailable.items())),
           ensemble_version.version if ensemble_version else None, str(data.dates[0]), day)
    return services.day_cache.get(key, lambda: _ensemble_day(services, day, members, versions, unavailable))


def _predict_day(model: object, data: ModelData, day: int) -> MemberOutput:
    """One model's whole-market prediction of ``day``; what it allocated for its batches is handed back to the
    system, so the next model reuses it rather than adding its own on top (the scoring's peak memory)."""
    out = model.predict_days(data, np.array([day]))
    release_free_memory()
    return out


def _ensemble_day(services: Services, day: int, members: dict[str, MemberOutput | None], versions: dict[str, str],
                  unavailable: dict[str, str]) -> DayPrediction:
    weights = ensemble_weights(services)
    ensemble = combine(members, weights)
    table = serving_table(services, weights)
    percentile = daily_percentile(ensemble.score)[:, 0]
    return DayPrediction(day, ensemble, calls_for(table, percentile), members, versions, unavailable, weights,
                         percentile, table)


def no_model_message(services: Services, unavailable: dict[str, str]) -> str:
    """Why nothing can predict: never trained, or — said as such — trained but now unusable.

    A corrupt or unloadable serving version used to be reported as "no trained model yet", which sent
    the admin looking for a missing training run instead of the broken files the registry refused.
    """
    broken = {name: why for name, why in unavailable.items() if services.registry.pointer(name) is not None}
    if not broken:
        return "학습된 모델이 아직 없습니다: `kstock train trees`로 학습하세요 (또는 관리자에게 /retrain trees 요청)"
    reasons = "; ".join(f"{name}: {why}" for name, why in sorted(broken.items()))
    return (f"지금 쓸 수 있는 학습된 모델이 없습니다 — {reasons}. 관리자에게 /retrain trees를 요청하거나 "
            "`kstock train trees`를 실행하세요")


def call_labels(score: np.ndarray, table: CalibrationTable | None = None) -> np.ndarray:
    """The calls of one day's scores, read from the band of each score's daily percentile.

    The top decile is a BUY and the bottom decile a SELL — where ``table`` has measured them, only if
    that band beat (lagged) the buyable universe out of sample (:func:`calls_for`). A lone name or
    identical scores sit at the median: HOLD.
    """
    return calls_for(table, daily_percentile(np.asarray(score, dtype=float)[:, None])[:, 0])
