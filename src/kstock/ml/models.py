"""The model kinds kstock knows, created by name — so the evaluator, retrain and scoring treat them alike.

Every model has the same shape: ``fit(data, train_days)``, ``predict_days(data, days) -> MemberOutput``,
``save(folder)``, ``load(folder)``. Deep models need torch; without it they report themselves
unavailable and everything else carries on with the trees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstock.config import Settings
from kstock.errors import KstockError
from kstock.ml.base import TORCH_MISSING, torch_available

__all__ = ["TORCH_MISSING", "create_model", "known_kinds", "model_loader", "torch_available", "unavailable_reason"]



def _trees(settings: Settings, **kwargs: Any) -> Any:
    from kstock.ml.predictor import TreePredictor
    from kstock.ml.tuning import load_tuned_params

    if "params" not in kwargs:
        kwargs["params"] = load_tuned_params(settings.model_dir)  # None → defaults
    return TreePredictor(**kwargs)


def _trees_loader() -> Callable:
    from kstock.ml.predictor import TreePredictor

    return TreePredictor.load


#: name → (factory(settings, **kwargs), loader() -> load(folder), needs_torch)
MODEL_KINDS: dict[str, tuple[Callable[..., Any], Callable[[], Callable], bool]] = {
    "trees": (_trees, _trees_loader, False),
}


def register_kind(name: str, factory: Callable[..., Any], loader: Callable[[], Callable], needs_torch: bool) -> None:
    MODEL_KINDS[name] = (factory, loader, needs_torch)


def _load_optional_kinds() -> None:
    """Deep model modules register themselves on import (they import torch lazily)."""
    import importlib

    for module in ("kstock.ml.lstm_predictor", "kstock.ml.sector_model"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def unavailable_reason(name: str) -> str | None:
    """Why a model kind cannot run here, or None when it can."""
    _load_optional_kinds()
    if name not in MODEL_KINDS:
        return f"unknown model {name!r}; choose from {', '.join(sorted(MODEL_KINDS))}"
    if MODEL_KINDS[name][2] and not torch_available():
        return TORCH_MISSING
    return None


def create_model(name: str, settings: Settings, **kwargs: Any) -> Any:
    reason = unavailable_reason(name)
    if reason:
        raise KstockError(f"{name}: {reason}")
    return MODEL_KINDS[name][0](settings, **kwargs)


def model_loader(name: str) -> Callable:
    reason = unavailable_reason(name)
    if reason:
        raise KstockError(f"{name}: {reason}")
    return MODEL_KINDS[name][1]()


def known_kinds() -> list[str]:
    _load_optional_kinds()
    return sorted(MODEL_KINDS)
