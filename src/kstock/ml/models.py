"""The model kinds kstock knows — one table, read lazily — so the evaluator, retrain and serving treat them alike.

Each kind names the class that implements the contract of :mod:`kstock.ml.base` (``create``, ``load``,
``fit``, ``predict_days``, ``save``) as ``"module:Class"``; the module is imported only when the kind is
used, so torch stays optional: without it the deep kinds report themselves unavailable and everything
else carries on with the trees. Adding a kind is one entry here (and its package): the entry says
everything kstock needs per kind — its Korean label (chat, CLI), its default ensemble weight (a kind has
to state one; 0 = reference only), whether ``/retrain`` and ``kstock train`` offer it, and how its
extras are shown under an analysis (``note``: ``"module:function"`` turning its outputs into a titled line or
list, :class:`~kstock.ml.base.Note`), in this table's order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.errors import KstockError
from kstock.market.types import Panel
from kstock.ml.base import TORCH_MISSING, MemberOutput, Model, ModelKind, Note, NoteContext, torch_available

__all__ = ["KINDS", "TORCH_MISSING", "Kind", "create_model", "default_weights", "kind_label", "kind_note",
           "kind_notes", "known_kinds", "load_model", "model_class", "note_fields", "retrain_kinds",
           "torch_available", "unavailable_reason", "weekly_kinds"]


@dataclass(frozen=True)
class Kind:
    """One model kind: where its class lives (``"module:Class"``) and how the rest of kstock shows and uses it.

    ``weight`` has no default on purpose: a kind that forgot it would silently serve as reference only.
    ``needs_torch`` kinds are the deep ones (they take ``--epochs`` and friends). ``note_label``/``note``:
    the title (default: the label) and the ``"module:function(NoteContext) -> Note | None"`` of what an analysis
    shows for it; ``note_field``: the seed's :class:`~kstock.ml.base.PredictionResult` field its note's value fills.
    """

    target: str
    label: str
    weight: float
    needs_torch: bool = False
    retrain: bool = True
    note_label: str | None = None
    note: str | None = None
    note_field: str | None = None

    def resolve(self) -> ModelKind:
        return _resolve(self.target)


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


#: The menus list the kinds in this order; the weekly retrain goes by weight (the call's carrier first).
KINDS: dict[str, Kind] = {
    "lstm": Kind("kstock.ml.lstm.predictor:LSTMPredictor", "어텐션 LSTM", 0.2, needs_torch=True,
                 note_label="LSTM이 주목한 날", note="kstock.ml.lstm.notes:key_days_note", note_field="lstm_key_days"),
    "trees": Kind("kstock.ml.trees.predictor:TreePredictor", "트리(LightGBM+XGBoost)", 0.8),
    # weight 0: every weight the walk-forward gave it lowered the ensemble's Rank IC (kstock.ml.ensemble)
    "sector": Kind("kstock.ml.sector.predictor:SectorPredictor", "섹터 CNN-트랜스포머", 0.0, needs_torch=True,
                   note_label="섹터 모델", note="kstock.ml.sector.notes:head_note", note_field="sector_head"),
}


def kind_label(name: str) -> str:
    """A kind's Korean name; an unknown name is shown as it is."""
    kind = KINDS.get(name)
    return kind.label if kind else name


def default_weights() -> dict[str, float]:
    """Each kind's ensemble weight until a store's own evaluation stores others."""
    return {name: kind.weight for name, kind in KINDS.items()}


def retrain_kinds() -> list[str]:
    """The kinds ``/retrain`` and ``kstock train`` offer, in menu order."""
    return [name for name, kind in KINDS.items() if kind.retrain]


def weekly_kinds() -> tuple[str, ...]:
    """The kinds the Sunday job retrains, heaviest weight first (the one that carries the call)."""
    return tuple(sorted(retrain_kinds(), key=lambda name: -KINDS[name].weight))


def kind_note(name: str, context: NoteContext) -> Note | None:
    """What an analysis shows for a kind's extras (``context.extras``), titled from its entry; None: nothing."""
    kind = KINDS.get(name)
    if kind is None or kind.note is None:
        return None
    describe: Callable[[NoteContext], Note | None] = _resolve(kind.note)
    note = describe(context)
    return None if note is None else replace(note, title=kind.note_label or kind.label)


def kind_notes(members: Mapping[str, MemberOutput | None], i: int, day: int, dates: np.ndarray,
               panel: Panel) -> dict[str, Note]:
    """Every answering kind's note for ticker row ``i`` on ``day``, in the table's order (the order shown)."""
    notes = {}
    for name in KINDS:
        out = members.get(name)
        if out is not None and (note := kind_note(name, NoteContext(out.extras, i, day, dates, panel))) is not None:
            notes[name] = note
    return notes


def note_fields(notes: Mapping[str, Note]) -> dict[str, Any]:
    """The seed's :class:`~kstock.ml.base.PredictionResult` fields (``lstm_key_days``, ``sector_head``) the notes'
    values fill, as each kind's entry names them (``note_field``)."""
    return {field: note.value for name, note in notes.items()
            if name in KINDS and (field := KINDS[name].note_field) is not None}


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
