"""``kstock tune …`` with fast trees, started as its own process by the concurrent-workers test.

The search space stays real (Optuna records real parameters); each trial trains 20 rounds on one thread.
With ``KSTOCK_TEST_GO=<file>`` the worker waits, once its data is loaded, until that file exists, so the
test can release two workers into the storage at the same moment.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from pathlib import Path

from kstock.cli import main
from kstock.ml.trees import TreePredictor, tuning
from support.workspace import FAST_TREES


def _patch() -> None:
    real_suggest, real_folds = tuning.suggest_params, tuning.walk_forward_folds

    def suggest(trial):
        return dataclasses.replace(real_suggest(trial), n_estimators=FAST_TREES["n_estimators"])

    def folds(*args, **kwargs):
        go = os.environ.get("KSTOCK_TEST_GO")
        deadline = time.monotonic() + 120
        while go and not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real_folds(*args, **kwargs)

    tuning.suggest_params, tuning.walk_forward_folds = suggest, folds
    tuning.TreePredictor = functools.partial(TreePredictor, n_jobs=1)


if __name__ == "__main__":
    _patch()
    sys.exit(main(sys.argv[1:]))
