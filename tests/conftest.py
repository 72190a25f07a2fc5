"""Shared fixtures. Real KRX data lives beside the repo in ../shared/data/krx; tests that need it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KRX_DIR = Path(os.environ.get("KSTOCK_KRX_DIR", REPO.parent / "shared" / "data" / "krx"))


@pytest.fixture(scope="session")
def krx_dir() -> Path:
    """The real KRX data folder; skips the test when ../shared is absent."""
    if not (KRX_DIR / "tickers.csv").exists():
        pytest.skip("real KRX data (../shared/data/krx) not present")
    return KRX_DIR
