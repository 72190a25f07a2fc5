"""`evaluate(models)`: the walk-forward report every model is judged by (its schema: docs/models.md).

All models and baselines share the folds, the samples and the backtest rules. ``ensemble`` evaluates
each available member once and combines their out-of-sample predictions with weights chosen on
earlier folds only. Every model's report carries its band table (``calibration``: what each decile of
its out-of-sample score meant, :mod:`kstock.ml.evaluation.calibration`); the ensemble's is stored with
its weights in the registry, where the served headline reads it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.ml.base import CLASS_DECISION, CLASS_PROBS
from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import build_table
from kstock.ml.evaluation.diversity import diversity_report
from kstock.ml.evaluation.folds import walk_forward_folds, warmup_fold
from kstock.ml.evaluation.ic_record import daily_next_open_ic, ic_record
from kstock.ml.evaluation.walkforward import (
    OutOfSample,
    baseline_report,
    run_folds,
    score_predictions,
    shuffled_label_check,
)
from kstock.ml.models import create_model, known_kinds, unavailable_reason
from kstock.service.context import Services

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def evaluate(
    services: Services,
    models: list[str],
    *,
    start: str | None = None,
    end: str | None = None,
    n_folds: int = 4,
    shuffle_check: bool = False,
    progress: Progress | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    settings = services.settings
    data = services.history_data()  # folds span the whole history, not the serving window
    folds = walk_forward_folds(data.dates, n_folds, start, end, embargo=settings.label_horizon)
    wanted = _expand(models)
    report: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": {"tickers": int(data.universe.sum()), "first_date": str(data.dates[0]),
                 "last_date": str(data.dates[-1])},
        "settings": {"label_horizon": settings.label_horizon, "target_return": settings.target_return,
                     "top_k": settings.top_k, "min_traded_value": settings.min_traded_value,
                     "embargo_days": settings.label_horizon},
        "folds": [f.describe(data.dates) for f in folds],
        "models": {}, "unavailable": {},
    }
    with_ensemble = "ensemble" in models or "all" in models
    # the ensemble's first fold is weighed on a warm-up fold before it (members are trained once more)
    warmup = warmup_fold(folds[0], settings.label_horizon) if with_ensemble else None
    trained = [warmup, *folds] if warmup is not None else folds
    if warmup is not None:
        report["ensemble_warmup"] = warmup.describe(data.dates)
    oos_by: dict[str, OutOfSample] = {}
    for name in wanted:
        reason = unavailable_reason(name)
        if reason:
            report["unavailable"][name] = reason
            continue
        say(f"{name}: 워크포워드 검증 구간 {len(folds)}개" + (" (준비 구간 하나 더)" if warmup else ""))

        def on_fold(i: int, fold: Any, n: str = name) -> None:
            which = "준비 구간" if fold is warmup else f"구간 {folds.index(fold) + 1}/{len(folds)}"
            say(f"{n}: {which} (시험 {data.dates[fold.test_start]} … {data.dates[fold.test_end]})")

        make = lambda n=name: create_model(n, settings, **(options or {}).get(n, {}))  # noqa: E731
        oos = run_folds(make, data, trained, on_fold)
        oos_by[name] = oos
        report["models"][name] = _score(oos, data, folds, settings)  # scored on the test folds only
        report["models"][name]["calibration"] = _calibration(oos, data, folds, settings, name)
    if with_ensemble:
        _add_ensemble(report, oos_by, data, folds, settings, services, warmup)
    report["baselines"] = baseline_report(data, folds, settings)
    if shuffle_check and "trees" in oos_by:
        say("trees: 정답을 섞은 확인 학습")
        report["checks"] = {"shuffled_label_rank_ic": shuffled_label_check(
            lambda: create_model("trees", settings, **(options or {}).get("trees", {})), data, folds)}
    return report


def _expand(models: list[str]) -> list[str]:
    """Model kinds to train: ``all`` or a lone ``ensemble`` mean every kind; ``trees,lstm,ensemble`` the
    ensemble of just those two."""
    kinds = known_kinds()
    explicit = [m for m in models if m not in ("ensemble", "all")]
    out: list[str] = []
    for name in models:
        members = kinds if name == "all" or (name == "ensemble" and not explicit) else \
            [] if name == "ensemble" else [name]
        for member in members:
            if member not in kinds:
                choices = ", ".join(f"`{k}`" for k in [*kinds, "ensemble", "all"])
                raise KstockError(f"모르는 모델 {member!r}; {choices} 중에서 고르세요")
            if member not in out:
                out.append(member)
    return out


def _score(oos: OutOfSample, data, folds, settings) -> dict[str, Any]:
    scored = score_predictions(oos, data, folds, settings)
    if CLASS_PROBS in oos.extras:  # a three-class call, held against always-HOLD overall and on every fold
        scored.update(three_class_report(oos, data, folds))
        for fold, row in zip(folds, scored["folds"], strict=True):
            row.update(three_class_report(oos, data, [fold]))
    return scored


def _calibration(oos: OutOfSample, data, folds, settings, name: str) -> dict[str, Any]:
    """The band table of the test blocks only (a warm-up fold, when there is one, stays out)."""
    days = np.concatenate([f.test_days() for f in folds])
    table = build_table(oos.score, data.panel, data.universe, days, horizon=settings.label_horizon,
                        min_traded_value=settings.min_traded_value,
                        source={"kind": "walk_forward", "model": name, "folds": len(folds)})
    return table.as_dict()


def _ic_record(oos: OutOfSample, data, folds, settings) -> dict[str, Any]:
    """The daily next-open Rank IC of the test folds: what the ledger's live IC is held against."""
    days = np.concatenate([f.test_days() for f in folds])
    daily = daily_next_open_ic(oos.score[:, days], data.panel, settings.label_horizon, days)
    return ic_record(data.dates[days], daily, "walk-forward")


def three_class_report(oos: OutOfSample, data, folds) -> dict[str, Any]:
    """The three-class decision (or, for a kind that gives none, the argmax) on the folds' test days, held
    against always-HOLD, with the plain argmax's accuracy and how often it calls SELL or BUY."""
    days = np.zeros(len(data.dates), dtype=bool)
    for f in folds:
        days[f.test_start : f.test_end + 1] = True
    mask = data.sample_mask(days)
    probs = oos.extras[CLASS_PROBS]
    ok = mask & np.isfinite(probs).all(axis=-1)
    truth = np.where(ok, data.labels.three_class, np.nan)
    argmax = np.where(ok, np.argmax(np.nan_to_num(probs), axis=-1), np.nan)
    decided = np.where(ok, oos.extras[CLASS_DECISION], np.nan) if CLASS_DECISION in oos.extras else argmax
    m = mt.multiclass_metrics(decided, truth)
    return {"macro_f1": m["macro_f1"], "per_class_accuracy": m["per_class_accuracy"],
            "hold_baseline_macro_f1": m["hold_baseline_macro_f1"], "accuracy_3class": m["accuracy"],
            "hold_baseline_accuracy": m["hold_baseline_accuracy"], "call_share": _call_share(decided),
            "accuracy_3class_argmax": mt.multiclass_metrics(argmax, truth)["accuracy"]}


def _call_share(decided: np.ndarray) -> float:
    """How often the decision is SELL or BUY rather than HOLD (NaN: no decision at all)."""
    made = decided[np.isfinite(decided)]
    return float(np.mean(made != mt.HOLD_CLASS)) if made.size else float("nan")


def _add_ensemble(report, oos_by, data, folds, settings, services, warmup=None) -> None:
    """The ensemble over all folds, plus a comparison on the folds after the first.

    Every fold is combined with weights chosen on earlier data only: fold 1 on the warm-up fold (equal
    weights when the history is too short for one), fold k on the warm-up and folds 1 … k-1.
    ``weighted_folds`` also scores the ensemble and every member on folds 2 … n, where the weights rest
    on at least one full fold.
    """
    from kstock.ml import ensemble

    if not oos_by:
        return
    oos, weights = ensemble.ensemble_out_of_sample(oos_by, data, folds, warmup=warmup)
    report["models"]["ensemble"] = {**score_predictions(oos, data, folds, settings), "weights": weights,
                                    "calibration": _calibration(oos, data, folds, settings, "ensemble")}
    best = max((report["models"][n]["rank_ic_mean"] for n in oos_by), default=float("nan"))
    report["models"]["ensemble"]["best_member_rank_ic"] = best
    diversity = diversity_report({name: o.score for name, o in oos_by.items()}, oos.score, data, folds,
                                 settings.label_horizon)
    if diversity is not None:  # does each member rank differently from the trees, and does the blend gain?
        report["models"]["ensemble"]["diversity"] = diversity
    if len(folds) > 1:
        later = folds[1:]
        report["models"]["ensemble"]["weighted_folds"] = {
            "test_start": str(data.dates[later[0].test_start]),
            "rank_ic_mean": {name: float(score_predictions(o, data, later, settings)["rank_ic_mean"])
                             for name, o in {**oos_by, "ensemble": oos}.items()},
        }
    _store_weights(services, weights, report, _ic_record(oos, data, folds, settings))


def _store_weights(services: Services, weights: dict[str, float], report: dict[str, Any],
                   record: dict[str, Any] | None = None) -> None:
    """Serve the validated weights: a tiny 'ensemble' registry entry holding them in its meta."""
    served = report["models"]["ensemble"]
    validation = {k: v for k, v in served.items() if k != "calibration"}
    version = services.registry.save("ensemble", lambda _folder: None,
                                     {"weights": weights, "validation": validation, "folds": report["folds"],
                                      "calibration": served["calibration"], "ic_record": record})
    services.registry.promote(version)
