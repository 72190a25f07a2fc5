"""Every model kind implements the contract of ``kstock.ml.base``; the kinds table is read lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kstock.config import Settings
from kstock.ml.base import Explains, Model, ReportsProgress
from kstock.ml.models import KINDS, known_kinds, model_class, unavailable_reason

SRC = Path(__file__).resolve().parents[1] / "src"


def _settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"KSTOCK_MODEL_DIR": str(tmp_path), "KSTOCK_USE_GPU": "false"}, dotenv=None)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_creates_a_model_of_the_contract(name: str, tmp_path: Path) -> None:
    if unavailable_reason(name):
        pytest.skip(unavailable_reason(name))
    cls = model_class(name)
    model = cls.create(_settings(tmp_path))
    assert isinstance(model, Model) and model.name == name
    assert callable(cls.load) and int(model.history_days) >= 1
    # the abilities each family declares: the trees explain their score, the deep models report progress
    assert isinstance(model, Explains) == (name == "trees")
    assert isinstance(model, ReportsProgress) == (name != "trees")


def test_the_table_names_each_kind_once_and_loads_no_model_module_on_import() -> None:
    assert known_kinds() == ["lstm", "sector", "trees"]
    code = ("import sys, kstock.ml.models as m\n"
            "assert m.known_kinds() == ['lstm', 'sector', 'trees']\n"
            "loaded = [k for k in sys.modules if k.startswith(('kstock.ml.trees', 'kstock.ml.lstm', 'kstock.ml.sector',"
            " 'torch', 'lightgbm', 'xgboost'))]\n"
            "assert not loaded, loaded\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_an_unknown_kind_is_a_clear_error() -> None:
    from kstock.errors import KstockError

    assert "`lstm`, `sector`, `trees` 중에서 고르세요" in unavailable_reason("cnn")
    with pytest.raises(KstockError, match="cnn: 모르는 모델"):
        model_class("cnn")
