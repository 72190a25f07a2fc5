"""The live record watches the model (issue 23): after 30 days of the live loop every published day whose
horizon has passed has its live Rank IC beside the range the model's out-of-sample record expects; a rolling
IC out of that range tells admins once, and once again when it recovers; `/performance` and
`kstock performance --json` list the last baskets' names with entry, exit or "보유 중", return and excess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kstock.bot.model_watch import run_model_health
from kstock.cli import main
from kstock.market.dates import day_int
from kstock.market.repositories import signals as signals_table
from kstock.ml.evaluation.ic_record import expected_range
from kstock.ml.registry import ModelRegistry
from kstock.service.context import Services
from kstock.service.daily import run_daily
from kstock.service.live_ic import live_ic
from support.bot_env import ADMIN, BotEnv
from support.fake_telegram import FakeTelegramServer
from support.workspace import copy_workspace, synth_settings

pytestmark = pytest.mark.timeout(600)

LOOP_DAYS = 30
HORIZON = 5


@pytest.fixture(scope="module")
def lived(synth_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden market after thirty trading days of the live loop (update → score → book each day)."""
    root = copy_workspace(synth_golden, tmp_path_factory.mktemp("lived30"))
    services = Services(synth_settings(root))
    for _ in range(LOOP_DAYS):
        assert run_daily(services).scoring is not None
    services.close()
    return root


def test_after_30_days_performance_json_holds_the_live_ic_its_range_and_the_names(
        lived: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KSTOCK_DB", str(lived / "s.db"))
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(lived / "models"))
    assert main(["performance", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    live = payload["live_ic"]
    series = live["series"]
    assert len(series) == LOOP_DAYS - (HORIZON + 1) and live["pending_days"] == HORIZON + 1
    assert all(-1.0 <= s["rank_ic"] <= 1.0 and s["names"] >= 20 for s in series)
    assert live["rolling"] == pytest.approx(np.mean([s["rank_ic"] for s in series[-20:]]), abs=1e-12)
    assert series[-1]["rolling"] == pytest.approx(live["rolling"], abs=1e-12)
    assert all(s["rolling"] is None for s in series[:19]) and series[19]["rolling"] is not None
    expected = live["expected"]  # from the serving trees' held-out window, stored by the retrain
    assert expected is not None and expected["model"] == "trees" and expected["days"] >= 40
    assert expected["low"] < expected["mean"] < expected["high"] and live["status"] in ("ok", "low")
    latest = payload["latest"]
    dates = sorted({row["date"] for row in latest})
    assert len(dates) == HORIZON + 2 and dates[-1] == payload["last_day"]  # held, awaiting entry, last sold
    measured = [row for row in latest if row["status"] == "measured"]
    held = [row for row in latest if row["held"]]
    assert measured and held and all(row["exit_date"] is None and row["entry_price"] > 0 for row in held)
    for row in measured:
        assert row["entry_date"] > row["date"] and row["exit_date"] > row["entry_date"]
        assert row["excess"] == pytest.approx(row["net_return"] - (row["net_return"] - row["excess"]), abs=1e-12)
        gross = row["exit_price"] / row["entry_price"] - 1.0
        assert row["net_return"] == pytest.approx(gross, abs=0.006)  # commission and tax: well under 0.6 %


def test_a_days_live_ic_is_the_spearman_of_its_scores_and_next_open_returns(lived: Path, tmp_path: Path) -> None:
    """Checked against pandas on the raw stored opens: open t+1 → open t+1+h of every name scored that day."""
    services = Services(synth_settings(copy_workspace(lived, tmp_path / "ws")))
    try:
        live = live_ic(services)
        days = services.store.trading_days()
        panel = services.store.load_panel(start=str(days[-80]))
        opens = pd.DataFrame(panel.ohlcv[:, :, 0], index=panel.codes, columns=panel.dates)
        for row in live.series[::7]:
            t = int(np.searchsorted(panel.dates, np.datetime64(row["date"])))
            ret = opens.iloc[:, t + 1 + HORIZON] / opens.iloc[:, t + 1] - 1.0
            score = pd.Series(dict(signals_table.scores(services.store, day_int(row["date"]))))
            both = pd.concat([score, ret], axis=1).dropna()
            assert row["names"] == len(both)
            assert row["rank_ic"] == pytest.approx(both.corr(method="spearman").iloc[0, 1], abs=1e-9)
    finally:
        services.close()


def _promote_expectation(root: Path, daily_ic: float) -> None:
    """Serve an ensemble version (trees alone) whose stored out-of-sample record is ``daily_ic`` ± noise."""
    registry = ModelRegistry(root / "models")
    rng = np.random.default_rng(0)
    record = {"kind": "walk-forward", "dates": [f"2024-01-{i % 28 + 1:02d}" for i in range(120)],
              "rank_ic": list(daily_ic + rng.normal(0, 0.02, 120))}
    assert expected_range(record) is not None
    version = registry.save("ensemble", lambda _folder: None, {"weights": {"trees": 1.0}, "ic_record": record})
    registry.promote(version)


def test_a_live_ic_out_of_range_alerts_once_and_its_recovery_once(lived: Path, tmp_path: Path) -> None:
    root = copy_workspace(lived, tmp_path / "ws")
    _promote_expectation(root, 0.9)  # a record no live IC reaches: the rolling mean is below its range
    with FakeTelegramServer() as tg:
        env = BotEnv(tg, root).start()
        try:
            since = len(tg.sent)
            for _ in range(2):
                env.call(run_model_health(env.runtime, env.bot))
            env.restart()  # the state is in the store: a new process does not repeat the alert
            env.call(run_model_health(env.runtime, env.bot))
            low = [r.text for r in env.sent_to(ADMIN, since) if "기대 범위 아래로" in r.text]
            assert len(low) == 1 and "기대 범위 아래" in low[0] and "+0.9" in low[0], low
            assert "⚠️ 기대 범위 아래" in env.ask(ADMIN, "/performance").text
            _promote_expectation(root, -0.9)  # now the live IC sits above the range: recovered
            env.call(run_model_health(env.runtime, env.bot))
            env.call(run_model_health(env.runtime, env.bot))
            notes = [r.text for r in env.sent_to(ADMIN, since) if "기대 범위 아래로" in r.text or "돌아왔" in r.text]
            assert len(notes) == 2 and "돌아왔습니다" in notes[1], notes
            assert not [r for r in env.sent_to(777, since) if "실전 순위상관" in r.text]
        finally:
            env.stop()


def test_no_stored_record_means_no_range_never_an_invented_one(lived: Path, tmp_path: Path) -> None:
    root = copy_workspace(lived, tmp_path / "ws")
    registry = ModelRegistry(root / "models")
    version = registry.save("ensemble", lambda _folder: None, {"weights": {"trees": 1.0}})  # no ic_record
    registry.promote(version)
    trees = registry.current("trees")
    meta_file = trees.path / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta.pop("ic_record")
    meta_file.write_text(json.dumps(meta))
    services = Services(synth_settings(root))
    try:
        live = live_ic(services)
        assert live.series and live.expected is None and live.status == "unknown"
        from kstock.service.ledger import performance
        from kstock.service.performance_view import format_performance

        assert "기대 범위 없음" in format_performance(performance(services))
    finally:
        services.close()


def test_performance_lists_each_name_with_a_button_to_its_analysis(lived: Path, tmp_path: Path) -> None:
    with FakeTelegramServer() as tg, BotEnv(tg, copy_workspace(lived, tmp_path / "ws")) as env:
        reply = env.ask(903, "/performance")
        text = reply.text
        assert "최근 매수 바스켓 종목별 결과" in text and "보유 중" in text and "매도 " in text and "초과 " in text
        assert "실전 순위상관(Rank IC)" in text and "기대 범위 " in text
        buttons = [(label, data) for label, data in reply.buttons if (data or "").startswith("a:")]
        names = {line.split("(")[0].split()[-1] for line in text.splitlines() if line.startswith("  • ")}
        assert buttons and len(buttons) == len({d for _, d in buttons})
        assert {label.replace("🔍 ", "") for label, _ in buttons} <= names
        since = len(tg.sent)
        tg.push_callback(903, buttons[0][1], reply.message_id)
        analysis = env.reply(903, since)
        assert buttons[0][1][2:] in analysis.text and "판단: " in analysis.text
