"""Models that stay fresh (issue 23): the Sunday job retrains every kind once through the gate, the gate reads
the next-open Rank IC, and a model past KSTOCK_MODEL_MAX_AGE is flagged — to admins once a day, in /model,
/analyze and `kstock models --json`. Jobs are driven through the real PTB application on a fake clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from kstock.bot.jobs import WEEKLY_KINDS, run_scoring, run_update
from kstock.bot.model_watch import run_model_health
from kstock.cli import main
from kstock.market.freshness import SEOUL
from kstock.market.types import OPEN, InstrumentKind
from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import round_trip_returns
from kstock.ml.lstm.data import LSTMParams
from kstock.ml.models import torch_available
from kstock.ml.trees import TreePredictor
from kstock.service import retrain as retrain_mod
from kstock.service import runs
from kstock.service.context import Services
from support.bot_env import ADMIN, SATURDAY_NOON, SMALL_TREES, BotEnv, fresh_copy
from support.fake_telegram import FakeTelegramServer
from support.models import use_model
from support.workspace import copy_workspace, fast_tree_options, synth_settings

pytestmark = pytest.mark.timeout(600)

SUNDAY_THREE = dt.datetime(2025, 10, 12, 3, 0, tzinfo=SEOUL)
TINY_LSTM = {"params": LSTMParams(hidden_size=8, samples_per_epoch=512, batch_size=256, max_val_samples=500,
                                  max_epochs=1, patience=1, n_threads=1, time_budget_s=None), "progress_bar": False}
TINY_SECTOR = {"img_size": 32, "d_model": 16, "n_heads": 2, "n_layers": 1, "batch_size": 32, "samples_per_epoch": 64,
               "phase2_samples_per_sector": 16, "phase1_epochs": 1, "phase2_epochs": 1, "phase3_epochs": 1,
               "val_max_samples": 64, "infer_batch": 256, "checkpoint_dir": False, "threads": 1}


class OvernightGapTrees(TreePredictor):
    """Scores each name by its overnight gap, close t → open t+1: inside the same-close 5-day return (a high
    close-to-close Rank IC) but before the next open, so worth nothing to a follower."""

    def predict_days(self, data, days):
        out = super().predict_days(data, days)
        close, opening = data.panel.close, data.panel.ohlcv[:, :, OPEN]
        gap = np.full(close.shape, np.nan)
        gap[:, :-1] = opening[:, 1:] / close[:, :-1] - 1.0
        out.score = gap[:, days]
        return out


def retrain_runs(services: Services) -> dict[str, list[runs.JobRun]]:
    found: dict[str, list[runs.JobRun]] = {}
    for run in runs.last_runs(services.store, limit=50):
        if run.job.startswith("retrain:"):
            found.setdefault(run.job.split(":", 1)[1], []).append(run)
    return found


def test_a_sunday_retrains_every_scheduled_kind_once_with_one_summary(tmp_path: Path) -> None:
    kinds = [k for k in WEEKLY_KINDS if k == "trees" or torch_available()]
    options = {"retrain_options": {"trees": SMALL_TREES, "lstm": TINY_LSTM, "sector": TINY_SECTOR}}
    with FakeTelegramServer() as tg, BotEnv(tg, fresh_copy(tmp_path / "env"), clock=lambda: SUNDAY_THREE,
                                            runtime_options=options) as env:
        before = {k: len(v) for k, v in retrain_runs(env.services).items()}
        since = len(tg.sent)
        (job,) = env.harness.app.job_queue.get_jobs_by_name("weekly_retrain")
        assert job.next_t.astimezone(SEOUL).weekday() == 6 and job.next_t.astimezone(SEOUL).hour == 3
        env.call(job.run(env.harness.app), timeout=500)  # PTB runs the job's callback as the scheduler would
        after = retrain_runs(env.services)
        for kind in kinds:  # one recorded run per kind, finished (promoted, kept or failed — never running)
            assert len(after.get(kind, [])) - before.get(kind, 0) == 1, kind
            assert after[kind][0].status in ("ok", "kept", "failed") and after[kind][0].finished_at
        notes = [r for r in env.sent_to(ADMIN, since) if "주간 재학습 결과" in r.text]
        assert len(notes) == 1, [r.text for r in notes]
        for label in ("트리", "LSTM", "섹터"):
            assert label in notes[0].text
        assert "2025-10-12" in notes[0].text and "다음 날 시가 기준 순위 IC" in notes[0].text


def test_the_gate_keeps_out_a_candidate_worse_from_the_next_open(synth_golden: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate beats serving on the same-close Rank IC — the old gate would promote it — but not from
    the next open, which is what a follower captures: it is kept out and the serving version stays."""
    services = Services(synth_settings(copy_workspace(synth_golden, tmp_path / "ws")))
    try:
        serving = services.registry.current("trees").version
        use_model(monkeypatch, OvernightGapTrees)
        result = retrain_mod.retrain(services, "trees", **fast_tree_options())
        assert result.status == "kept", result.reason
        assert result.metrics["rank_ic_mean"] > result.serving_metrics["rank_ic_mean"] + 0.05  # same close: better
        assert result.metrics["rank_ic_next_open"] < result.serving_metrics["rank_ic_next_open"] - 0.05
        assert "다음 날 시가 기준 순위 IC" in result.reason
        assert services.registry.current("trees").version == serving
    finally:
        services.close()


def test_the_gate_metric_is_the_rank_ic_from_the_next_open(synth_services: Services) -> None:
    """rank_ic_next_open is the daily Spearman correlation against open t+1 → open t+1+h, checked here against
    pandas on the raw opens (costs change no rank: the same on every name of a day)."""
    data = synth_services.training_data()
    model = synth_services.serving("trees").model
    _train, days = retrain_mod.validation_split(data, 5)
    metrics, daily = retrain_mod.validate_daily(model, data, days)
    samples = data.sample_mask(np.isin(np.arange(len(data.dates)), days))[:, days]
    score = np.where(samples, model.predict_days(data, days).score, np.nan)
    opens = data.panel.ohlcv[:, :, OPEN]
    ret = np.full(opens.shape, np.nan)
    ret[:, :-6] = opens[:, 6:] / opens[:, 1:-5] - 1.0
    ret = np.where(samples & np.isfinite(round_trip_returns(data.panel, 5)[:, days]), ret[:, days], np.nan)
    import pandas as pd

    expected = [pd.Series(score[:, j]).corr(pd.Series(ret[:, j]), method="spearman") for j in range(len(days))]
    expected = np.array(expected, dtype=float)
    both = np.isfinite(expected) & np.isfinite(daily)
    assert both.sum() >= len(days) - 7
    np.testing.assert_allclose(daily[both], expected[both], atol=0.02)  # halts: a held name's open is carried
    assert metrics["rank_ic_next_open"] == pytest.approx(mt.ic_summary(daily)["mean"], abs=1e-12)
    assert retrain_mod.GATE_METRIC == "rank_ic_next_open"
    record = synth_services.registry.current("trees").meta["ic_record"]
    assert len(record["rank_ic"]) == len(record["dates"]) >= 40  # the stored out-of-sample record


def _common_code(services: Services) -> str:
    return next(t.code for t in services.store.tickers() if t.kind == InstrumentKind.COMMON)


def test_an_expired_model_alerts_admins_once_a_day_and_says_so_everywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = fresh_copy(tmp_path / "env")  # trees trained on data to Friday 2025-10-10
    clock = [SATURDAY_NOON]  # no catch-up at start: the test moves the market itself
    with FakeTelegramServer() as tg:
        env = BotEnv(tg, root, clock=lambda: clock[0], overrides={"model_max_age": 2}).start()
        try:
            code = _common_code(env.services)
            assert "거래일 전 데이터로 학습한 모델" not in env.ask(ADMIN, "/model").text  # fresh: nothing said
            assert env.call(run_model_health(env.runtime, env.bot, clock[0])).get("expired") is None
            for day in (13, 14, 15):  # three sessions revealed: the data is three trading days past the model's
                # 10:00, before the update time: the start-up catch-up, whenever it runs, has nothing to do
                clock[0] = dt.datetime(2025, 10, day, 10, 0, tzinfo=SEOUL)
                assert env.call(run_update(env.runtime, clock[0])).status == "ok"
                assert env.call(run_scoring(env.runtime, clock[0])) is not None
            since = len(tg.sent)
            env.call(run_model_health(env.runtime, env.bot, clock[0]))
            env.call(run_model_health(env.runtime, env.bot, clock[0]))  # again the same day: nothing more
            env.restart()  # a restart does not repeat it either: the alert is recorded in the store
            env.call(run_model_health(env.runtime, env.bot, clock[0]))
            alerts = [r.text for r in env.sent_to(ADMIN, since) if "모델 만료" in r.text]
            assert len(alerts) == 1 and "⚠️ 3거래일 전 데이터로 학습한 모델" in alerts[0]
            assert "2025-10-10" in alerts[0] and "KSTOCK_MODEL_MAX_AGE=2" in alerts[0]
            assert "⚠️ 3거래일 전 데이터로 학습한 모델" in env.ask(ADMIN, "/model").text
            assert "⚠️ 3거래일 전 데이터로 학습한 모델" in env.ask(777, "/model").text  # users are told too
            assert "⚠️ 3거래일 전 데이터로 학습한 모델" in env.ask(777, f"/analyze {code}").text
            clock[0] = dt.datetime(2025, 10, 16, 8, 30, tzinfo=SEOUL)  # the next day: one more alert
            env.call(run_model_health(env.runtime, env.bot, clock[0]))
            env.call(run_model_health(env.runtime, env.bot, clock[0]))
            assert len([r for r in env.sent_to(ADMIN, since) if "모델 만료" in r.text]) == 2
            assert not [r for r in env.sent_to(777, since) if "모델 만료" in r.text]  # admins only
        finally:
            env.stop()
    monkeypatch.setenv("KSTOCK_DB", str(root / "s.db"))
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(root / "models"))
    monkeypatch.setenv("KSTOCK_MODEL_MAX_AGE", "2")
    assert main(["models", "--json"]) == 0
    trees = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "trees")
    assert trees["expired"] is True and trees["age_trading_days"] == 3 and trees["max_age_trading_days"] == 2
    monkeypatch.setenv("KSTOCK_MODEL_MAX_AGE", "3")
    assert main(["models", "--json"]) == 0
    trees = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "trees")
    assert trees["expired"] is False and trees["age_trading_days"] == 3  # at the limit, not past it


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "1.5"])
def test_a_bad_model_max_age_is_refused_with_a_clear_message(raw: str, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KSTOCK_MODEL_MAX_AGE", raw)
    assert main(["models", "--json"]) == 1
    err = capsys.readouterr().err
    assert "KSTOCK_MODEL_MAX_AGE" in err and "Traceback" not in err


def test_models_trained_on_the_same_old_data_are_one_warning_line() -> None:
    """Three kinds retrained together and expired together read as one line naming them all, in the kinds'
    Korean names; a kind of another age keeps a line of its own."""
    from kstock.service.presenters import model_warning_lines

    old, older = "⚠️ 12거래일 전 데이터로 학습한 모델", "⚠️ 30거래일 전 데이터로 학습한 모델"
    lines = model_warning_lines({"lstm": old, "sector": older, "trees": old})
    assert lines == [f"{old} (어텐션 LSTM, 트리(LightGBM+XGBoost))", f"{older} (섹터 CNN-트랜스포머)"]
    assert model_warning_lines({}) == []
