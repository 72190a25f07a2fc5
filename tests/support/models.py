"""Tree models that misbehave on purpose (validate badly, fail, answer NaN) and a way to make retrain use
them; shared by the registry tests and the model fault suite. Also kinds for the kinds table
(``kstock.ml.models.KINDS``, ``"support.models:FastTrees"``): fast trees, a second tree member, a broken one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kstock.ml.base import CLASS_DECISION, CLASS_PROBS, MemberOutput, Note
from kstock.ml.trees import TreeParams, TreePredictor
from kstock.service import retrain as retrain_mod
from support.workspace import FAST_TREES


def truncate(path: Path, keep: float) -> None:
    """Cut a file to the first `keep` fraction of its bytes (a torn write)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


class InverseTrees(TreePredictor):
    """Learns the reverse of the cross-sectional rank: a real model that validates badly."""

    def fit(self, data, train_days):
        # both labels a score model may learn (TreeParams.label): the close one and the next-day one
        original = (data.labels.rank, data.labels.tradeable_return)
        data.labels.rank, data.labels.tradeable_return = 1.0 - original[0], -original[1]
        try:
            return super().fit(data, train_days)
        finally:
            data.labels.rank, data.labels.tradeable_return = original


class FailingTrees(TreePredictor):
    def fit(self, data, train_days):
        raise RuntimeError("boom: out of memory in the booster")


class NanTrees(TreePredictor):
    def fit(self, data, train_days):
        return {}

    def predict_days(self, data, days):
        shape = (len(data.panel.codes), len(days))
        return MemberOutput(np.full(shape, np.nan), np.full(shape, np.nan))


def use_model(monkeypatch, cls) -> None:
    def create(name, settings, **options):
        return cls(**options)

    monkeypatch.setattr(retrain_mod, "create_model", create)


class FastTrees(TreePredictor):
    """The trees kind made fast for CLI tests: 20 rounds on one thread unless the caller says otherwise."""

    @classmethod
    def create(cls, settings, **options):
        options.setdefault("params", TreeParams(**FAST_TREES))
        options.setdefault("n_jobs", 1)
        return super().create(settings, **options)


class RivalTrees(FastTrees):
    """A second tree member (another seed) standing in for a deep model in ensemble tests."""

    @classmethod
    def create(cls, settings, **options):
        return super().create(settings, seed=7, **options)


class ClassTrees(FastTrees):
    """Fast trees that also give three-class probabilities (as the sector model does), from their score."""

    def predict_days(self, data, days):
        out = super().predict_days(data, days)
        buy, sell = out.score**2, (1 - out.score) ** 2
        out.extras[CLASS_PROBS] = np.stack([sell, 1 - buy - sell, buy], axis=-1)
        return out


class HoldingClassTrees(FastTrees):
    """Trees whose probabilities never favour HOLD, but whose decision (as the sector model's offsets may decide)
    is HOLD wherever they predict."""

    def predict_days(self, data, days):
        out = super().predict_days(data, days)
        out.extras[CLASS_PROBS] = np.stack([0.9 * (1 - out.score), np.full_like(out.score, 0.1),
                                            0.9 * out.score], axis=-1)
        out.extras[CLASS_DECISION] = np.where(np.isfinite(out.score), 1.0, np.nan)
        return out


class BrokenModel:
    """A kind that loads but fails on every prediction (a shape mismatch inside the model)."""

    name = "broken"
    history_days = 1

    @classmethod
    def create(cls, settings, **options):
        return cls()

    def __init__(self, settings=None):
        self.settings = settings  # what it was loaded with (serving must pass the service's settings)

    @classmethod
    def load(cls, folder, settings=None):
        return cls(settings)

    def fit(self, data, train_days):
        return {}

    def predict_days(self, data, days):
        raise RuntimeError("shape mismatch inside the model")

    def save(self, folder):
        (folder / "w.txt").write_text("w")


class ToyTrees(RivalTrees):
    """The toy kind of tests/test_kinds_table.py: trees that also give an extra, "toy" (their own score)."""

    def predict_days(self, data, days):
        out = super().predict_days(data, days)
        out.extras["toy"] = out.score.copy()
        return out


def toy_note(context):
    """The toy kind's extras in words (tests/test_kinds_table.py): its one number for ticker row ``i``."""
    if "toy" not in context.extras:
        return None
    value = float(context.extras["toy"][context.i, 0])
    return Note((f"장난감 값 {value:.2f}",), value=value)
