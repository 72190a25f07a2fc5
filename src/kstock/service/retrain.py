"""`retrain(name)`: train on data up to the last trading day, validate, swap through the registry gate.

The flow is the same for every model kind (the weekly LSTM job, the admin's /retrain, `kstock train`):

1. hold out the last ``VALIDATION_DAYS`` trading days (with an embargo ≥ the label horizon) and fit
   on everything before;
2. score the candidate — and the serving model, on the same days — by the daily Rank IC of the score
   against the return a follower captures: bought at the next open, sold at the open ``horizon`` days
   later (:func:`~kstock.ml.evaluation.calibration.round_trip_returns`, the backtest's and the ledger's
   return); the same-close Rank IC and the AUC are reported beside it;
3. promote through the registry gate only if training was clean, metrics are finite and the candidate
   is no worse than serving beyond a tolerance; otherwise keep serving and say why;
4. a promoted version carries, in its meta, the band table its numbers are served from
   (:mod:`kstock.ml.evaluation.calibration`): the long out-of-sample record — a walk-forward over the last two
   years, in yearly folds, of the model's cheaper twin (:mod:`kstock.ml.evaluation.record`) — or, for a
   model with no cheap twin or a history too short for two years, its validation window, marked as such
   (``is_record`` false; the headline then says it rests on a short window); and the daily next-open Rank IC
   of its validation predictions (``ic_record``, what the live record is compared with,
   :mod:`kstock.service.live_ic`): out of sample, since it trained only on days before.

Every run is recorded in ``job_runs``; any exception, NaN loss or worse model leaves the serving model
in place.

Under ``torchrun`` only rank 0 does steps 2–4 and records the run; the other ranks train a model with a
distributed path (:class:`~kstock.ml.base.TrainsDistributed`) in lockstep with it, wait until rank 0 has
written the registry and return "follower"; a model without one is left to rank 0 ("skipped").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.errors import KstockError, public_reason, public_text
from kstock.market.store import StoreError
from kstock.ml import distributed
from kstock.ml.base import MemberOutput, ReportsProgress, TrainsDistributed
from kstock.ml.data import ModelData
from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import CalibrationTable, build_table, round_trip_returns
from kstock.ml.evaluation.ic_record import daily_next_open_ic, ic_record
from kstock.ml.evaluation.record import record_table
from kstock.ml.models import create_model
from kstock.ml.registry import RegistryError
from kstock.service import runs
from kstock.service.context import Services

log = logging.getLogger(__name__)

VALIDATION_DAYS = 60
#: The gate's metric: the mean daily Rank IC against the next-open round trip (what a follower captures).
GATE_METRIC = "rank_ic_next_open"
GATE_TOLERANCE = 0.005

Progress = Callable[[str], None]


@dataclass
class RetrainResult:
    model: str
    status: str  # promoted / kept / failed; under torchrun on ranks > 0: follower / skipped
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    serving_metrics: dict[str, float] | None = None
    version: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def validation_split(data: ModelData, horizon: int, days: int = VALIDATION_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """Train mask and validation day indices: the last ``days`` days, with an embargo before them."""
    n = len(data.dates)
    last_labelled = int(np.flatnonzero(data.labels.valid.any(axis=0))[-1]) if data.labels.valid.any() else n - 1
    val_start = max(1, last_labelled - days + 1)
    train = np.zeros(n, dtype=bool)
    train[: max(0, val_start - horizon - 1)] = True
    return train, np.arange(val_start, last_labelled + 1)


def next_open_returns(data: ModelData, days: np.ndarray) -> np.ndarray:
    """(N, len(days)) net return of a signal on each of ``days``: the next open → the open ``horizon`` later."""
    return round_trip_returns(data.panel, data.labels.horizon)[:, days]


def validate(model: Any, data: ModelData, days: np.ndarray, out: MemberOutput | None = None,
             returns: np.ndarray | None = None) -> dict[str, float]:
    """Rank IC (next open and same close) and AUC on ``days``; ``out`` is the model's prediction of those days
    and ``returns`` their :func:`next_open_returns` when already made."""
    return validate_daily(model, data, days, out, returns)[0]


def validate_daily(model: Any, data: ModelData, days: np.ndarray, out: MemberOutput | None = None,
                   returns: np.ndarray | None = None) -> tuple[dict[str, float], np.ndarray]:
    """:func:`validate`'s metrics and the daily next-open Rank IC behind the gate's number (one per day)."""
    out = model.predict_days(data, days) if out is None else out
    returns = next_open_returns(data, days) if returns is None else returns
    day_mask = np.zeros(len(data.dates), dtype=bool)
    day_mask[days] = True
    samples = data.sample_mask(day_mask)[:, days]
    score = np.where(samples, out.score, np.nan)
    fwd = np.where(samples, data.labels.forward_return[:, days], np.nan)
    rank_ic = mt.ic_summary(mt.daily_rank_ic(score, fwd))
    daily = daily_next_open_ic(score, data.panel, data.labels.horizon, days, np.where(samples, returns, np.nan))
    next_open = mt.ic_summary(daily)
    binary = mt.binary_metrics(np.where(samples, out.probability, np.nan), data.labels.up[:, days])
    return {"rank_ic_next_open": next_open["mean"], "rank_ic_next_open_ir": next_open["ir"],
            "rank_ic_mean": rank_ic["mean"], "rank_ic_ir": rank_ic["ir"], "auc": binary["auc"],
            "accuracy": binary["accuracy"], "validation_days": float(len(days))}, daily


def validation_table(name: str, out: MemberOutput, data: ModelData, days: np.ndarray,
                     settings: Settings) -> CalibrationTable:
    """The band table of the validation window: out of sample, since training stopped an embargo before it."""
    score = np.full(data.panel.close.shape, np.nan)
    score[:, days] = out.score
    return build_table(score, data.panel, data.universe, days, horizon=settings.label_horizon,
                       min_traded_value=settings.min_traded_value, source={"kind": "validation", "model": name})


def served_table(name: str, model: Any, predicted: MemberOutput, data: ModelData, val_days: np.ndarray,
                 settings: Settings, say: Progress) -> CalibrationTable:
    """The band table a new version serves: the two-year walk-forward record of its cheaper twin when it has
    one (the trees) and the history is long enough, else its validation window (marked short)."""
    twin = getattr(model, "record_twin", None)
    if twin is not None:
        say(f"{name}: 2년 검증 기록 만드는 중 (학습에 쓰지 않은 기간을 1년씩 차례로 예측)")

        def on_fold(i: int, fold: Any) -> None:
            say(f"{name}: 검증 기록 {i + 1}번째 해 ({data.dates[fold.test_start]} … {data.dates[fold.test_end]})")

        table = record_table(name, twin, data, settings, on_fold)
        if table is not None:
            say(f"{name}: {describe_table(table)}")
            return table
        say(f"{name}: 2년 검증 기록을 만들 만큼 데이터가 길지 않아 검증 기간 표를 씁니다")
    table = validation_table(name, predicted, data, val_days, settings)
    say(f"{name}: {describe_table(table)}")
    return table


def describe_table(table: CalibrationTable) -> str:
    """One line on the served table: its span, whether it is the two-year record, and its top band."""
    top = table.top
    number = (f"{top.mean_excess * 100:+.2f}% (적중 {top.hit_rate * 100:.0f}%, 표본 {top.n:,})" if top.reliable
              else "표본 부족")
    kind = "워크포워드 기록" if table.is_record else "2년 미만 — 짧은 기간 표"
    return (f"서비스 등급표 {table.source.get('first_day')}~{table.source.get('last_day')} "
            f"({table.years:.1f}년, {kind}), 최상위 등급 초과수익률 {number}")


def retrain(services: Services, name: str, progress: Progress | None = None, *, store_wait: float | None = None,
            **options: Any) -> RetrainResult:
    """Retrain one model kind; never raises for a model, save or store failure — the result says what happened.

    ``store_wait`` bounds the wait for a store another writer holds before anything is trained (an admin's
    /retrain passes the chat's short wait; the weekly job keeps the store's busy timeout)."""
    say = progress or (lambda _msg: None)
    if not distributed.is_main_process():
        return _follow(services, name, say, **options)
    try:
        return _retrain_recorded(services, name, say, store_wait, **options)
    finally:  # the other ranks of a torchrun job exit once the registry is written, whatever the outcome
        distributed.finish()


def _follow(services: Services, name: str, say: Progress, **options: Any) -> RetrainResult:
    """A rank > 0 of a ``torchrun`` job: train in lockstep with rank 0 (DDP), then wait for its promotion.

    Nothing here writes the store or the registry: rank 0 validates, promotes and records the run.
    """
    rank = distributed.world_rank()[1]
    model = create_model(name, services.settings, **options)
    if not isinstance(model, TrainsDistributed):
        return RetrainResult(name, "skipped", f"rank {rank}: 분산 학습 경로가 없는 모델이라 rank 0만 학습합니다")
    try:
        data = services.training_data()
        train_days, _ = validation_split(data, services.settings.label_horizon)
        model.fit(data, train_days)
    except Exception as exc:  # rank 0 says what happened to the model; this rank says why it stopped, in one line
        log.warning("retrain %s on rank %d failed: %s", name, rank, exc)
        return RetrainResult(name, "failed", f"rank {rank}: 학습 실패 ({public_reason(exc)})")
    finally:
        distributed.finish()
    return RetrainResult(name, "follower", f"rank {rank}: 학습 완료 — 검증·승격과 레지스트리 기록은 rank 0이 합니다")


def _retrain_recorded(services: Services, name: str, say: Progress, store_wait: float | None,
                      **options: Any) -> RetrainResult:
    """Rank 0 (or the only process): train, gate and promote, recorded as a job run."""
    try:
        run_id = runs.start_run(services.store, f"retrain:{name}", wait=store_wait)
    except KstockError as exc:
        # the store cannot be written (locked by another writer, disk full): train nothing rather than a model
        # whose run cannot be recorded — and return a result, so the /retrain progress message and the weekly
        # job's note to the admins say why instead of the exception escaping them
        result = RetrainResult(name, "failed", f"시작하지 못했습니다: {_start_failure(exc)}; 아무것도 학습하지 "
                                               "않았고 서비스 중인 모델은 그대로입니다")
        say(f"{name}: {result.reason}")
        return result
    started = time.monotonic()
    try:
        result = _retrain(services, name, say, **options)
    except RegistryError as exc:  # trained, but the new version could not be written (disk full): it says so
        log.warning("retrain %s: %s", name, exc)
        result = RetrainResult(name, "failed", public_text(str(exc), limit=300))
    except Exception as exc:  # the serving model stays; the run records why
        if isinstance(exc, KstockError):  # written for people (e.g. torch not installed): one line, no traceback
            log.warning("retrain %s failed: %s", name, exc)
        else:
            log.exception("retrain %s failed", name)
        # one short line: it reaches the admin's chat (Korean for a failed write; never a native stack trace
        # or a server path)
        reason = public_reason(exc)
        result = RetrainResult(name, "failed", f"학습 실패 ({reason}); 서비스 중인 모델은 그대로입니다")
    result.seconds = time.monotonic() - started
    try:
        runs.finish_run(services.store, run_id, {"promoted": "ok", "kept": "kept"}.get(result.status, "failed"),
                        {**result.metrics, "seconds": round(result.seconds, 1), "version": result.version},
                        None if result.status != "failed" else result.reason)
    except KstockError as exc:  # the outcome stands (a promoted model is serving); only its record is missing
        log.warning("retrain %s: could not record the run: %s", name, exc)
        result.reason += f" (실행 기록을 남기지 못했습니다: {exc})"
    say(f"{name}: {result.reason}")
    return result


def _start_failure(exc: KstockError) -> str:
    """Why a run could not be recorded, for a chat: a store another writer holds in words, never its file."""
    if isinstance(exc, StoreError) and exc.locked:
        return "다른 작업이 데이터 저장소를 쓰고 있습니다 — 끝난 뒤 다시 시도하세요"
    return public_reason(exc)


def _retrain(services: Services, name: str, say: Progress, **options: Any) -> RetrainResult:
    say(f"{name}: 데이터와 특징 불러오는 중")
    data = services.training_data()  # the last KSTOCK_TRAIN_YEARS years, not the serving window
    train_days, val_days = validation_split(data, services.settings.label_horizon)
    model = create_model(name, services.settings, **options)
    if isinstance(model, ReportsProgress):
        model.set_progress(say)
    say(f"{name}: 학습 기간 {data.dates[0]} … {data.dates[int(np.flatnonzero(train_days)[-1])]}")
    model.fit(data, train_days)
    say(f"{name}: 검증 기간 {data.dates[val_days[0]]} … {data.dates[val_days[-1]]}")
    predicted = model.predict_days(data, val_days)
    returns = next_open_returns(data, val_days)
    metrics, daily_ic = validate_daily(model, data, val_days, predicted, returns)
    if not all(np.isfinite(metrics[k]) for k in (GATE_METRIC,)):
        return RetrainResult(name, "failed", f"검증 `{GATE_METRIC}` 값이 숫자가 아닙니다 (학습이 발산했을 수 있음); "
                             "서비스 중인 모델은 그대로입니다", metrics)
    serving = services.serving(name)
    serving_metrics = None
    if serving.model is not None:
        try:
            serving_metrics = validate(serving.model, data, val_days, returns=returns)
        except Exception as exc:  # a broken serving model must not block its replacement
            log.warning("could not score the serving %s model: %s", name, exc)
    decision = services.registry.gate(name, metrics, serving_metrics, GATE_METRIC, GATE_TOLERANCE)
    if not decision.promote:
        if serving.version is not None and services.registry.pointer(name) != serving.version.version:
            # CURRENT was garbled or named a broken version and an older one serves: point CURRENT at it
            services.registry.promote(serving.version)
            services.forget_model(name)
        return RetrainResult(name, "kept", decision.reason, metrics, serving_metrics)
    meta = {"data_range": [str(data.dates[0]), str(data.dates[-1])],
            "train_range": [str(data.dates[0]), str(data.dates[int(np.flatnonzero(train_days)[-1])])],
            "validation_range": [str(data.dates[val_days[0]]), str(data.dates[val_days[-1]])],
            "validation": metrics, "features": list(getattr(model, "feature_names", data.features.names)),
            "options": options,
            "calibration": served_table(name, model, predicted, data, val_days, services.settings, say).as_dict(),
            "ic_record": ic_record(data.dates[val_days], daily_ic, "validation")}
    version = services.registry.save(name, model.save, meta)
    services.registry.promote(version)
    services.forget_model(name)
    return RetrainResult(name, "promoted", decision.reason, metrics, serving_metrics, version.version)
