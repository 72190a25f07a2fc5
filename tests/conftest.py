"""Shared fixtures. Real KRX data lives beside the repo in ../shared/data/krx; tests that need it skip."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
KRX_DIR = Path(os.environ.get("KSTOCK_KRX_DIR", REPO.parent / "shared" / "data" / "krx"))


@pytest.fixture(scope="session")
def krx_dir() -> Path:
    """The real KRX data folder; skips the test when ../shared is absent."""
    if not (KRX_DIR / "tickers.csv").exists():
        pytest.skip("real KRX data (../shared/data/krx) not present")
    return KRX_DIR


# -- a small synthetic market and a trained tree model, shared by the model/service tests -----------------

#: Fast tree settings for tests: 20 rounds, one thread (two threads on two busy cores make LightGBM ~10× slower).
FAST_TREES = {"n_estimators": 20}


def fast_tree_options() -> dict:
    from kstock.ml.predictor import TreeParams

    return {"params": TreeParams(**FAST_TREES), "n_jobs": 1}


def synth_settings(root: Path):
    from kstock.config import Settings

    return Settings.from_env({}, dotenv=None).with_overrides(db_path=root / "s.db", model_dir=root / "models")


@pytest.fixture(scope="session")
def synth_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``s.db`` (40-ticker synthetic market, 1.5 years) and ``models/`` holding a trained,
    serving trees model. Built once per session; tests that write copy it (see ``workspace``)."""
    from kstock.market.sources import synthesize_store
    from kstock.market.store import MarketStore
    from kstock.service.context import Services
    from kstock.service.retrain import retrain

    root = tmp_path_factory.mktemp("golden")
    store = MarketStore(root / "s.db")
    synthesize_store(store, n_tickers=40, years=1.5, seed=1)  # with its simulated clock (the daily loop's tests)
    services = Services(synth_settings(root), store)
    result = retrain(services, "trees", **fast_tree_options())
    assert result.status == "promoted", result.reason
    services.close()
    return root


@pytest.fixture(scope="session")
def synth_services(synth_golden: Path):
    """Read-only services over the golden store and model (do not write through them)."""
    from kstock.service.context import Services

    services = Services(synth_settings(synth_golden))
    yield services
    services.close()


def copy_workspace(golden: Path, dest: Path, models: bool = True) -> Path:
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(golden / "s.db", dest / "s.db")
    if models:
        shutil.copytree(golden / "models", dest / "models")
    return dest


@pytest.fixture
def workspace(synth_golden: Path, tmp_path: Path):
    """A private copy of the golden store and models: (root, Services)."""
    from kstock.service.context import Services

    root = copy_workspace(synth_golden, tmp_path / "ws")
    services = Services(synth_settings(root))
    yield root, services
    services.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty folder with no KSTOCK_*/TELEGRAM_*/KRX_* from the developer's shell or .env."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("KSTOCK_", "TELEGRAM_", "KRX_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def deep_model_data(tmp_path_factory: pytest.TempPathFactory):
    """Features and labels of a small synthetic market (40 tickers × 1.5 years) for the deep-model tests."""
    from kstock.config import Settings
    from kstock.market.store import MarketStore
    from kstock.market.synthetic import generate_market
    from kstock.ml.data import prepare_model_data

    store = MarketStore(tmp_path_factory.mktemp("deep") / "s.db")
    store.ingest(generate_market(n_tickers=40, years=1.5, seed=1), source="t")
    return prepare_model_data(store, Settings.from_env({}, dotenv=None))


@pytest.fixture(scope="session")
def deep_train_days(deep_model_data) -> np.ndarray:
    """Every day but the last 40 (kept back as unseen days)."""
    days = np.zeros(len(deep_model_data.dates), dtype=bool)
    days[: len(deep_model_data.dates) - 40] = True
    return days
