"""The synthetic workspace every model/service test starts from: fast tree options, settings for a
folder, a private copy of the golden store and models (used by conftest's fixtures and by tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Fast tree settings for tests: 20 rounds, one thread (two threads on two busy cores make LightGBM ~10× slower).
FAST_TREES = {"n_estimators": 20}


def fast_tree_options() -> dict:
    from kstock.ml.trees import TreeParams

    return {"params": TreeParams(**FAST_TREES), "n_jobs": 1}


def synth_settings(root: Path):
    from kstock.config import Settings

    return Settings.from_env({}, dotenv=None).with_overrides(db_path=root / "s.db", model_dir=root / "models")


def copy_workspace(golden: Path, dest: Path, models: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(golden / "s.db", dest / "s.db")
    if models:
        shutil.copytree(golden / "models", dest / "models")
    return dest
