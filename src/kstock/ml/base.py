"""The model contract every model family implements, and the types that cross it.

A model kind is a class with two constructors and three methods (:class:`ModelKind`, :class:`Model`):

* ``create(settings, **options)`` — a fresh, untrained model, set up from the settings (tuned
  parameters, device, horizon) and the CLI's options;
* ``load(folder, settings)`` — a trained one from a registry folder, on the device the settings ask for;
* ``fit(data, train_days)`` — train on the samples of ``train_days`` (a bool mask over ``data.dates``);
* ``predict_days(data, days) -> MemberOutput`` — every ticker's outputs on the given day indices;
* ``save(folder)`` — write the model's own files (never pickle) into a registry folder.

Abilities only some models have are separate small protocols, checked with ``isinstance`` instead of
probing attributes: :class:`ReportsProgress` (text progress while training) and :class:`Explains`
(per-feature contributions for the SHAP reasons). Model-specific outputs travel in
``MemberOutput.extras`` under the keys declared here (:data:`ATTENTION`, :data:`SECTOR_HEAD`,
:data:`CLASS_PROBS`); an analysis shows them through each kind's note (:class:`NoteContext` in, :class:`Note`
out; the kinds table, :mod:`kstock.ml.models`, says which function).

The shape follows qlib's ``qlib/model/base.py`` (``fit`` / ``predict``, interpretability as a mixin).
This module imports no model library: the evaluator, the registry and the services depend on it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from kstock.config import Settings
    from kstock.market.types import Panel
    from kstock.ml.data import ModelData

#: ``MemberOutput.extras`` keys. The LSTM's attention over its window: (N, D, seq_len), last = day t.
ATTENTION = "attention"
#: The sector model's answering head per (ticker, day): (N, D), −1 = the common head, NaN = no prediction.
SECTOR_HEAD = "head"
#: The sector model's (SELL, HOLD, BUY) probabilities: (N, D, 3).
CLASS_PROBS = "class_probs"
#: The sector model's three-class decision (0 SELL, 1 HOLD, 2 BUY) per ticker and day, (N, D): its most probable
#: class once its training's class weights are undone (:mod:`kstock.ml.sector.decision`) — what the evaluator
#: holds against always-HOLD.
CLASS_DECISION = "class_decision"
#: The same decision shown as a call — present only when it beat answering HOLD every time on the model's
#: validation days (else it is no call at all).
CLASS_CALL = "class_call"
#: With a call, the (SELL, HOLD, BUY) probabilities it was made from (the class weights undone), (N, D, 3).
CALL_PROBS = "call_probs"

TORCH_MISSING = "torch가 설치되지 않음"
LABELS = ("SELL", "HOLD", "BUY")


def torch_available() -> bool:
    """Whether torch imports here (the deep kinds need it; everything else carries on without)."""
    try:
        import torch  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


@dataclass(frozen=True)
class Reason:
    """One SHAP reason: which feature pushed the score, how much, in words."""

    feature: str
    value: float
    contribution: float
    text: str


@dataclass
class PredictionResult:
    """What ``analyze`` returns for one (ticker, day); the seed's name, grown to carry everything shown."""

    code: str
    name: str
    date: str  # the data date the prediction is computed from (close of that day)
    probability: float | None  # P(5-day return > target); None when no model could answer
    score: float | None  # expected cross-sectional rank in [0, 1]
    label: str  # BUY / HOLD / SELL
    shap_top3: list[Reason] = field(default_factory=list)
    model_versions: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, float] | None] = field(default_factory=dict)  # per model: None = unavailable
    unavailable: dict[str, str] = field(default_factory=dict)  # model → why
    # the seed's two fields, filled from the LSTM's and the sector model's notes (each ``Kind.note_field``)
    lstm_key_days: list[tuple[str, float]] = field(default_factory=list)  # (date, attention weight)
    sector_head: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # "notes": kind → :class:`Note`, "weights": the ensemble's

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NoteContext:
    """What a kind's note may read for one ticker on one day: the kind's own extras and the day's data."""

    extras: Mapping[str, np.ndarray]  # the kind's ``MemberOutput.extras`` for the analysed day: (N, 1, …)
    i: int  # the ticker's row
    day: int  # the day's index into ``dates`` and the panel's days
    dates: np.ndarray
    panel: Panel


@dataclass(frozen=True)
class Note:
    """A kind's extras as an analysis shows them, under the title of its kinds-table entry.

    ``lines`` are what a person reads: none hides the note; one is shown after the title ("섹터 모델: 공통 헤드")
    unless ``listed``, which puts each line under the title as a bullet. ``value`` is the same in a machine-readable
    form (``--json``, and the seed's :class:`PredictionResult` field the entry names). ``title`` is filled from
    the table (:func:`kstock.ml.models.kind_note`); a note function leaves it empty.
    """

    lines: tuple[str, ...] = ()
    listed: bool = False
    value: Any = None
    title: str = ""


@dataclass
class MemberOutput:
    """A model's real outputs for (tickers × days); NaN where it could not predict."""

    probability: np.ndarray
    score: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def score_to_label(score: float | None, cuts: tuple[float, float]) -> str:
    """BUY above the buy cut, SELL below the sell cut, HOLD between (cuts from the training period)."""
    if score is None or score != score:
        return "HOLD"
    sell_cut, buy_cut = cuts
    return "BUY" if score >= buy_cut else "SELL" if score <= sell_cut else "HOLD"


@runtime_checkable
class Model(Protocol):
    """A trained (or trainable) model of one kind; see the module docstring."""

    name: str

    @property
    def history_days(self) -> int:
        """Days of features one prediction reads (the serving window is sized from it)."""

    def fit(self, data: ModelData, train_days: np.ndarray) -> dict[str, float]: ...

    def predict_days(self, data: ModelData, days: np.ndarray) -> MemberOutput: ...

    def save(self, folder: Path) -> None: ...


class ModelKind(Protocol):
    """The class side of a kind: how the kinds table (:mod:`kstock.ml.models`) makes and loads one."""

    def create(self, settings: Settings, **options: Any) -> Model: ...

    def load(self, folder: Path, settings: Settings | None = None) -> Model: ...


@runtime_checkable
class ReportsProgress(Protocol):
    """A model that reports its training as short lines of text (retrain shows them in the chat)."""

    def set_progress(self, say: Callable[[str], None]) -> None: ...


@runtime_checkable
class TrainsDistributed(Protocol):
    """A model whose ``fit`` runs on every rank of a ``torchrun`` job (DistributedDataParallel): the other
    ranks must fit too (the gradients are averaged across them), and only rank 0 validates and promotes."""

    trains_distributed: bool


@runtime_checkable
class Explains(Protocol):
    """A model whose score splits into per-feature contributions (the SHAP reasons of ``/analyze``)."""

    feature_names: tuple[str, ...]

    def day_rows(self, data: ModelData, day: int) -> np.ndarray:
        """Every ticker's feature row on one day (N, F), in ``feature_names`` order."""

    def contributions_matrix(self, x: np.ndarray) -> np.ndarray:
        """Each feature's contribution to the score of each row (N, F)."""


def params_from_options(params_type: Any, options: dict[str, Any], settings: Any) -> Any:
    """A deep kind's parameters from the options of its ``create`` (the ones used are popped): ``params`` (an
    instance or a dict), then any field given by name (``epochs`` is the CLI's name for ``max_epochs``); the
    embargo is at least the label horizon, so no training label reaches into its validation."""
    if "epochs" in options:
        options["max_epochs"] = options.pop("epochs")
    given = options.pop("params", None)
    values = dict(given) if isinstance(given, Mapping) else asdict(given) if given is not None else {}
    values.update({k: options.pop(k) for k in list(options) if k in params_type.__dataclass_fields__})
    params = params_type.from_dict(values)
    params.embargo = max(params.embargo, int(getattr(settings, "label_horizon", 5)))
    return params
