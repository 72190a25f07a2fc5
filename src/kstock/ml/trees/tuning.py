"""Optuna tuning of the tree predictor inside the training period only.

The objective is the mean walk-forward Rank IC against the return from the next day (what a follower
captures, the default training label) over inner folds that lie entirely before ``end``
(the start of the evaluation period), so the test folds are never seen. The study lives in an Optuna
RDB storage (SQLite by default), so a run can be resumed and several workers can share one study
(point them all at the same ``--storage`` URL; they may start at the same moment on a fresh storage, see
:mod:`kstock.ml.trees.study_storage`). The best parameters are written to
``<model_dir>/tuned/trees.json``; `kstock train trees` uses them when present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.ml.data import ModelData
from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.folds import parse_day, walk_forward_folds
from kstock.ml.evaluation.walkforward import run_folds
from kstock.ml.trees.params import TreeParams, tuned_params_path
from kstock.ml.trees.predictor import TreePredictor
from kstock.ml.trees.study_storage import open_storage


def suggest_params(trial: Any) -> TreeParams:
    return TreeParams(
        n_estimators=trial.suggest_int("n_estimators", 100, 500, step=50),
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.15, log=True),
        num_leaves=trial.suggest_int("num_leaves", 15, 127, log=True),
        max_depth=trial.suggest_int("max_depth", 3, 8),
        min_child_samples=trial.suggest_int("min_child_samples", 50, 2000, log=True),
        subsample=trial.suggest_float("subsample", 0.3, 1.0),
        colsample=trial.suggest_float("colsample", 0.2, 1.0),
        reg_lambda=trial.suggest_float("reg_lambda", 0.1, 50.0, log=True),
        score_seeds=1,  # a trial compares settings: one seed pair is a third of the time (the best gets the default)
    )


def tune_trees(
    data: ModelData,
    *,
    trials: int,
    end: str | None,
    storage: str,
    study_name: str = "kstock-trees",
    inner_folds: int = 3,
    embargo: int = 5,
    model_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``trials`` more trials of the shared study; write and return the best parameters."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    say = progress or (lambda _m: None)
    limit = data.dates[-1] if end is None else parse_day(end, "--end")
    span = data.dates[data.dates <= limit]
    if not span.size:
        raise KstockError(f"--end {limit} is before the stored data ({data.dates[0]} … {data.dates[-1]})")
    # an inner test day's label looks `embargo` (≥ the label horizon) days ahead from the next day: the last
    # one is early enough that no label window reaches past `end` into the evaluation period
    last = span[max(0, len(span) - 2 - embargo)]
    folds = walk_forward_folds(data.dates, inner_folds, start=span[len(span) // 2], end=last, embargo=embargo)

    def objective(trial: Any) -> float:
        params = suggest_params(trial)
        oos = run_folds(lambda: TreePredictor(params, probability=False), data, folds)
        days = np.zeros(len(data.dates), dtype=bool)
        for f in folds:
            days[f.test_start : f.test_end + 1] = True
        mask = data.sample_mask(days)
        ic = mt.ic_summary(mt.daily_rank_ic(np.where(mask, oos.score, np.nan)[:, days],
                                            data.labels.tradeable_return[:, days]))["mean"]
        say(f"시도 {trial.number}: 순위 IC {ic:.4f}")
        return ic if np.isfinite(ic) else -1.0

    study = optuna.create_study(study_name=study_name, storage=open_storage(storage), direction="maximize",
                                load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=None))
    study.optimize(objective, n_trials=trials)
    best = TreeParams(**{**asdict(TreeParams()), **study.best_params})  # score_seeds: the default
    out = {"params": asdict(best), "rank_ic": study.best_value, "trials": len(study.trials),
           "tuned_until": str(limit), "study": study_name, "storage": storage}
    path = tuned_params_path(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # workers finishing together: never a torn file
    tmp.write_text(json.dumps(out, indent=2))
    os.replace(tmp, path)
    return out
