"""The kinds table (kstock.ml.models.KINDS) is the one place a model kind is declared: a fourth kind added as one
entry shows up in /model, /retrain, `kstock train`, the ensemble's weights and the analysis text."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pytest

from kstock.bot import messages
from kstock.cli import build_parser
from kstock.cli.model_cmds import train_choices
from kstock.market.types import Panel
from kstock.ml import models as model_kinds
from kstock.ml.base import ATTENTION, SECTOR_HEAD, MemberOutput, NoteContext, PredictionResult
from kstock.ml.ensemble import DEFAULT_WEIGHTS, combine
from kstock.service.analyze import analyze
from kstock.service.presenters import format_analysis, format_models, note_lines
from kstock.service.serving import ensemble_weights
from kstock.service.status import models_status

TOY = model_kinds.Kind("support.models:ToyTrees", "장난감 모델", 0.2, note_label="장난감",
                       note="support.models:toy_note")
REFERENCE = " (참고용 · 종합 판단에 반영 안 함)"


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(model_kinds.KINDS, "toy", TOY)
    return "toy"


def test_every_kind_states_a_label_and_a_weight() -> None:
    """A kind without a weight would serve as reference only without anyone deciding so: the table refuses it."""
    for name, kind in model_kinds.KINDS.items():
        assert kind.label and kind.label != name
        assert math.isfinite(kind.weight) and kind.weight >= 0, name
    assert sum(model_kinds.default_weights().values()) > 0
    with pytest.raises(TypeError):
        model_kinds.Kind("support.models:RivalTrees", "무게 없는 모델")  # type: ignore[call-arg]
    assert [f.name for f in fields(model_kinds.Kind)][:3] == ["target", "label", "weight"]


def test_the_seed_names_still_read_the_table() -> None:
    assert DEFAULT_WEIGHTS == model_kinds.default_weights() == {"lstm": 0.2, "trees": 0.8, "sector": 0.0}
    assert messages.RETRAIN_TARGETS == ("lstm", "trees", "sector", "all")
    assert model_kinds.weekly_kinds() == ("trees", "lstm", "sector")  # the call's carrier first


def test_a_toy_kind_is_offered_by_retrain_and_train(toy: str) -> None:
    assert toy in messages.retrain_targets() and messages.retrain_targets()[-1] == "all"
    assert toy in messages.retrain_usage()
    assert toy in train_choices() and toy in model_kinds.weekly_kinds()
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # the help is built from the table
    assert toy in train.format_help()


def test_a_toy_kind_is_weighed_by_the_ensemble(toy: str, synth_services) -> None:
    assert model_kinds.default_weights()[toy] == 0.2
    assert ensemble_weights(synth_services)[toy] == 0.2  # the golden store stores no weights of its own
    one = MemberOutput(probability=np.array([[0.4], [0.6]]), score=np.array([[0.0], [1.0]]))
    other = MemberOutput(probability=np.array([[0.8], [0.2]]), score=np.array([[1.0], [0.0]]))
    out = combine({"trees": one, toy: other})
    trees = model_kinds.KINDS["trees"].weight  # the trees' own entry, beside the toy's 0.2
    assert out.probability == pytest.approx(np.array([[(trees * 0.4 + 0.2 * 0.8) / (trees + 0.2)],
                                                      [(trees * 0.6 + 0.2 * 0.2) / (trees + 0.2)]]), abs=1e-12)


def test_a_toy_kind_is_listed_by_model_and_its_extras_are_shown(toy: str, synth_services) -> None:
    rows = models_status(synth_services)
    row = next(r for r in rows if r["name"] == toy)
    assert row["available"] is False  # never trained here: said so, under its Korean name
    assert "• 장난감 모델: 사용 불가" in format_models(rows)
    note = model_kinds.kind_note(toy, _context({"toy": np.array([[0.5], [0.25]])}, 1))
    assert note is not None and (note.title, note.lines, note.value) == ("장난감", ("장난감 값 0.25",), 0.25)
    assert model_kinds.kind_note(toy, _context({}, 0)) is None  # no extras of its own that day: nothing shown
    assert model_kinds.kind_note("trees", _context({}, 0)) is None  # a kind without a note
    assert model_kinds.kind_label("nobody") == "nobody"


@pytest.mark.parametrize("weight", [0.2, 0.0])
def test_a_toy_kinds_note_is_shown_under_the_analysis(monkeypatch: pytest.MonkeyPatch, workspace,
                                                      weight: float) -> None:
    """Its one table entry is all a kind needs for its extras to reach /analyze's text (after the kinds before it
    in the table, marked reference-only at weight 0) and the result's ``extras`` (``--json``)."""
    monkeypatch.setitem(model_kinds.KINDS, "toy", replace(TOY, weight=weight))
    _, services = workspace
    served = model_kinds.load_model("toy", services.registry.current("trees").path, services.settings)
    services.registry.promote(services.registry.save("toy", served.save, {"validation": {}}))  # the golden trees
    a = analyze(services, "삼성전자")
    value = a.result.members["toy"]["score"]  # the toy's extra is its own score
    assert a.result.extras["notes"]["toy"].value == value
    lines = format_analysis(a).splitlines()
    shown = f"장난감: 장난감 값 {value:.2f}" + (REFERENCE if weight == 0 else "")
    assert shown in lines
    assert lines.index(shown) == len(lines) - 3  # just above the models line and the disclaimer
    assert lines[lines.index(shown) - 1].startswith("  • ")  # after the SHAP reasons


def _context(extras: dict[str, np.ndarray], i: int, n: int = 30) -> NoteContext:
    dates = np.arange(np.datetime64("2025-09-01"), np.datetime64("2025-09-01") + n).astype("datetime64[D]")
    ohlcv = np.full((2, n, 5), 100.0)
    ohlcv[:, 20, 3] = 110.0  # +10% on 09-21 (a Sunday: the calendar does not matter here)
    ohlcv[:, 21:, 3] = 110.0
    return NoteContext(extras, i, n - 1, dates, Panel(["005930", "000660"], dates, ohlcv, np.zeros((2, n), bool)))


def test_the_lstm_and_sector_notes_read_as_before() -> None:
    """The LSTM's key days (listed under their title when the attention stands out) and the sector model's head
    (one line) come from their table entries, in its order, and fill the seed's two fields."""
    attention = np.full((2, 1, 20), 0.02)
    attention[1, 0, [0, 10, 19]] = 0.03, 0.5, 0.04  # the window ends on day 29: index 10 is day 20 (09-21)
    members = {"sector": MemberOutput(np.zeros((2, 1)), np.zeros((2, 1)), {SECTOR_HEAD: np.array([[-1.0], [0.0]])}),
               "trees": MemberOutput(np.zeros((2, 1)), np.zeros((2, 1))),
               "lstm": MemberOutput(np.zeros((2, 1)), np.zeros((2, 1)), {ATTENTION: attention})}
    ctx = _context({}, 1)
    notes = model_kinds.kind_notes(members, 1, ctx.day, ctx.dates, ctx.panel)
    assert list(notes) == ["lstm", "sector"]  # the table's order, whatever order the members came in
    assert note_lines(notes["lstm"]) == ["LSTM이 주목한 날:", "  • 09-21(일) 55%: 주가 +10.0%, 거래량 평소의 1.0배"]
    assert note_lines(notes["sector"], reference=True) == ["섹터 모델: 전기전자 헤드" + REFERENCE]
    fields_ = model_kinds.note_fields(notes)
    assert fields_["sector_head"] == "전기전자 헤드"
    assert [d for d, _ in fields_["lstm_key_days"]] == ["2025-09-11", "2025-09-21", "2025-09-30"]
    uniform = model_kinds.kind_notes({**members, "lstm": MemberOutput(np.zeros((2, 1)), np.zeros((2, 1)), {
        ATTENTION: np.full((2, 1, 20), 0.05)})}, 0, ctx.day, ctx.dates, ctx.panel)
    assert note_lines(uniform["lstm"]) == [] and len(uniform["lstm"].value) == 3  # not shown, still in --json
    assert note_lines(uniform["sector"]) == ["섹터 모델: 공통 헤드"]
    nan_head = {"sector": MemberOutput(np.zeros((2, 1)), np.zeros((2, 1)), {SECTOR_HEAD: np.full((2, 1), np.nan)})}
    assert model_kinds.kind_notes(nan_head, 0, ctx.day, ctx.dates, ctx.panel) == {}  # no prediction, no line


def test_every_note_field_is_a_seed_field_of_the_result() -> None:
    names = {f.name for f in fields(PredictionResult)}
    assert {kind.note_field for kind in model_kinds.KINDS.values() if kind.note_field} == {"lstm_key_days",
                                                                                          "sector_head"}
    assert all(kind.note_field in names for kind in model_kinds.KINDS.values() if kind.note_field)
