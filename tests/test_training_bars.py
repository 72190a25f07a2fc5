"""Training shows a tqdm bar with an ETA on a terminal: the trees count every boosting round of their
four boosters; the bars stay off when output is not a terminal (bot, logs, tests)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from tqdm import tqdm

from kstock.ml import progress_bars
from kstock.ml.trees import TreeParams, TreePredictor


def test_tree_fit_advances_one_bar_per_boosting_round(synth_services, monkeypatch: pytest.MonkeyPatch) -> None:
    bars: list[tqdm] = []

    def visible_bar(total: int, desc: str) -> tqdm:  # as on a terminal
        bars.append(tqdm(total=total, desc=desc, file=io.StringIO(), disable=False, mininterval=0))
        return bars[-1]

    monkeypatch.setattr(progress_bars, "round_bar", visible_bar)
    data = synth_services.model_data()
    days = np.zeros(len(data.dates), dtype=bool)
    days[-120:-20] = True
    TreePredictor(TreeParams(n_estimators=7), n_jobs=1).fit(data, days)
    boosters = 2 + 2 * TreeParams().score_seeds  # the probability pair and the score pairs (3 seeds: 8)
    assert len(bars) == 1 and bars[0].total == boosters * 7 and bars[0].n == boosters * 7  # 7 rounds each
    assert "ETA" not in bars[0].desc and "<" in bars[0].fp.getvalue()  # tqdm prints the remaining time as <mm:ss


def test_bars_are_off_without_a_terminal() -> None:
    with progress_bars.round_bar(10, "trees") as bar:  # pytest captures output: not a terminal
        assert bar.disable
