"""Shared fixtures. Real KRX data lives beside the repo in ../shared/data/krx; tests that need it skip."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from support.workspace import REPO, copy_workspace, fast_tree_options, synth_settings

KRX_DIR = Path(os.environ.get("KSTOCK_KRX_DIR", REPO.parent / "shared" / "data" / "krx"))


@pytest.fixture(autouse=True)
def _kinds_table_in_its_order():
    """Tests that swap kinds in ``KINDS`` (monkeypatch) leave it in its declared order: monkeypatch puts a
    removed key back at the end, and the menus list the kinds in the table's order."""
    from kstock.ml import models as model_kinds

    saved = list(model_kinds.KINDS.items())
    yield
    model_kinds.KINDS.clear()
    model_kinds.KINDS.update(saved)


@pytest.fixture(scope="session")
def krx_dir() -> Path:
    """The real KRX data folder; skips the test when ../shared is absent."""
    if not (KRX_DIR / "tickers.csv").exists():
        pytest.skip("real KRX data (../shared/data/krx) not present")
    return KRX_DIR


# -- a small synthetic market and a trained tree model, shared by the model/service tests -----------------

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


@pytest.fixture(scope="module")
def synth_panel():
    """(panel, KOSPI closes) of the 40-ticker synthetic market, built as the store would give it."""
    from kstock.market.synthetic import generate_market
    from kstock.market.types import Panel

    data = generate_market(n_tickers=40, years=1.5, seed=1)
    prices = data.prices.copy()
    codes = sorted(prices["code"].unique())
    dates = np.array(sorted(np.unique(prices["date"].to_numpy().astype("datetime64[D]"))))
    n, t = len(codes), len(dates)
    ohlcv = np.full((n, t, 5), np.nan)
    ci = prices["code"].map({c: i for i, c in enumerate(codes)}).to_numpy()
    di = np.searchsorted(dates, prices["date"].to_numpy().astype("datetime64[D]"))
    for k, field in enumerate(("open", "high", "low", "close", "volume")):
        ohlcv[ci, di, k] = prices[field].to_numpy(dtype=float)
    halted = (prices["volume"].to_numpy() == 0) & (prices["open"].to_numpy() == 0)
    ohlcv[ci[halted], di[halted]] = np.nan  # halt rows as the store gives them: NaN
    sector_of = {tk.code: (tk.sector_id if tk.sector_id is not None else -1) for tk in data.tickers}
    halt_mask = np.zeros((n, t), dtype=bool)
    halt_mask[ci[halted], di[halted]] = True
    panel = Panel(codes, dates, ohlcv, halt_mask, np.array([sector_of.get(c, -1) for c in codes]))
    kospi = data.indices["KOSPI"]
    market = (kospi.assign(date=kospi["date"].astype("datetime64[ns]")).set_index("date")["close"]
              .reindex(dates.astype("datetime64[ns]")).ffill().to_numpy())
    return panel, market


@pytest.fixture
def cli(synth_golden: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run a kstock command on a private copy of the golden store/models; returns (rc, stdout, stderr).

    Commands run in-process through ``kstock.cli.main``; tree models are made fast (20 rounds, one thread)
    by swapping the kind's class for ``support.models.FastTrees``."""
    from kstock.cli import main
    from kstock.ml import models as model_kinds

    root = copy_workspace(synth_golden, tmp_path / "ws")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KSTOCK_DB", str(root / "s.db"))
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(root / "models"))
    fast = replace(model_kinds.KINDS["trees"], target="support.models:FastTrees")
    monkeypatch.setitem(model_kinds.KINDS, "trees", fast)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse refuses bad arguments (a bad date, a bad choice) with exit 2
            rc = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return rc, out, err

    run.root = root
    return run
