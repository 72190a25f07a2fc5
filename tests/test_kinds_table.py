"""The kinds table (kstock.ml.models.KINDS) is the one place a model kind is declared: a fourth kind added as one
entry shows up in /model, /retrain, `kstock train`, the ensemble's weights and the analysis text."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from kstock.bot import messages
from kstock.cli import build_parser
from kstock.cli.model_cmds import train_choices
from kstock.ml import models as model_kinds
from kstock.ml.base import MemberOutput
from kstock.ml.ensemble import DEFAULT_WEIGHTS, combine
from kstock.service.presenters import format_models
from kstock.service.serving import ensemble_weights
from kstock.service.status import models_status

TOY = model_kinds.Kind("support.models:RivalTrees", "장난감 모델", 0.2, note_label="장난감",
                       note="support.models:toy_note")


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
    assert DEFAULT_WEIGHTS == model_kinds.default_weights() == {"lstm": 0.3, "trees": 0.7, "sector": 0.0}
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
    assert out.probability == pytest.approx(np.array([[(0.7 * 0.4 + 0.2 * 0.8) / 0.9],
                                                      [(0.7 * 0.6 + 0.2 * 0.2) / 0.9]]), abs=1e-12)


def test_a_toy_kind_is_listed_by_model_and_its_extras_are_shown(toy: str, synth_services) -> None:
    rows = models_status(synth_services)
    row = next(r for r in rows if r["name"] == toy)
    assert row["available"] is False  # never trained here: said so, under its Korean name
    assert "• 장난감 모델: 사용 불가" in format_models(rows)
    assert model_kinds.kind_note(toy, {"toy": np.array([[0.5], [0.25]])}, 1) == ("장난감", "장난감 값 0.25")
    assert model_kinds.kind_note(toy, {}, 0) is None and model_kinds.kind_note("trees", {}, 0) is None
    assert model_kinds.kind_label("nobody") == "nobody"
