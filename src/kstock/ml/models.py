"""The model kinds kstock knows — one table, read lazily — so the evaluator, retrain and serving treat them alike.

Each kind names the class that implements the contract of :mod:`kstock.ml.base` (``create``, ``load``,
``fit``, ``predict_days``, ``save``) as ``"module:Class"``; the module is imported only when the kind is
used, so torch stays optional: without it the deep kinds report themselves unavailable and everything
else carries on with the trees. Adding a kind is one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kstock.config import Settings
from kstock.errors import KstockError
from kstock.ml.base import TORCH_MISSING, Model, ModelKind, torch_available

__all__ = ["KINDS", "TORCH_MISSING", "Kind", "create_model", "known_kinds", "load_model", "model_class",
           "torch_available", "unavailable_reason"]


@dataclass(frozen=True)
class Kind:
    """Where a kind's class lives (``"module:Class"``) and whether it needs torch."""

    target: str
    needs_torch: bool = False

    def resolve(self) -> ModelKind:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


KINDS: dict[str, Kind] = {
    "trees": Kind("kstock.ml.trees.predictor:TreePredictor"),
    "lstm": Kind("kstock.ml.lstm.predictor:LSTMPredictor", needs_torch=True),
    "sector": Kind("kstock.ml.sector.predictor:SectorPredictor", needs_torch=True),
}


def unavailable_reason(name: str) -> str | None:
    """Why a model kind cannot run here, or None when it can."""
    if name not in KINDS:
        return f"모르는 모델 {name!r}; {', '.join(f'`{k}`' for k in known_kinds())} 중에서 고르세요"
    if KINDS[name].needs_torch and not torch_available():
        return TORCH_MISSING
    return None


def model_class(name: str) -> ModelKind:
    """The class of a kind; a :class:`KstockError` saying why when it cannot run here."""
    reason = unavailable_reason(name)
    if reason:
        raise KstockError(f"{name}: {reason}")
    return KINDS[name].resolve()


def create_model(name: str, settings: Settings, **options: Any) -> Model:
    """A fresh model of a kind, set up from the settings and the caller's options."""
    return model_class(name).create(settings, **options)


def load_model(name: str, folder: Path, settings: Settings) -> Model:
    """A trained model of a kind from a registry folder, on the device the settings ask for."""
    return model_class(name).load(folder, settings)


def known_kinds() -> list[str]:
    return sorted(KINDS)
