"""A cold `analyze` answers from the day's stored scoring (service.stored_day) — with exactly the text
the models give — and predicts the day itself whenever the stored file does not match what serves now."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kstock.market.freshness import SEOUL
from kstock.ml.models import create_model, torch_available
from kstock.service import stored_day
from kstock.service.analyze import Analysis, analyze
from kstock.service.context import Services
from kstock.service.predict import predict_day
from kstock.service.presenters import format_analysis
from kstock.service.scoring import score_market
from support.workspace import synth_settings

NOW = dt.datetime(2030, 1, 7, 18, 0, tzinfo=SEOUL)  # a fixed clock: the ⚠️ line is the same on both sides


def _services(root: Path) -> Services:
    services = Services(synth_settings(root))
    services.clock = lambda: NOW
    return services


def _promote(services: Services, name: str, model) -> None:
    version = services.registry.save(name, model.save, {"validation": {}})
    services.registry.promote(version)


@pytest.fixture(scope="module")
def scored(synth_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden store and trees, plus tiny LSTM and sector models where torch is installed, scored once."""
    root = tmp_path_factory.mktemp("stored") / "ws"
    shutil.copytree(synth_golden, root)
    services = _services(root)
    if torch_available():
        from kstock.ml.lstm.data import LSTMParams
        from kstock.ml.sector.config import SectorConfig

        data = services.training_data()
        days = np.zeros(len(data.dates), dtype=bool)
        days[: len(data.dates) - 10] = True
        lstm = create_model("lstm", services.settings, params=LSTMParams(
            hidden_size=8, samples_per_epoch=256, batch_size=128, max_val_samples=200, max_epochs=1, patience=1,
            n_threads=1, time_budget_s=None), seed=3, progress_bar=False)
        lstm.fit(data, days)
        _promote(services, "lstm", lstm)
        sector = create_model("sector", services.settings, config=SectorConfig(
            img_size=32, d_model=16, n_heads=2, n_layers=1, batch_size=32, samples_per_epoch=64,
            phase2_samples_per_sector=8, phase1_epochs=1, phase2_epochs=1, phase3_epochs=1, val_max_samples=32,
            patience=5, infer_batch=256, seed=3), checkpoint_dir=False)
        sector.fit(data, days)
        _promote(services, "sector", sector)
    score_market(services)
    services.close()
    assert stored_day.day_path(services.store).exists()
    return root


@pytest.fixture
def ws(scored: Path, tmp_path: Path) -> Path:
    """A private copy of the scored workspace (store, models, window and stored-day files)."""
    root = tmp_path / "ws"
    shutil.copytree(scored, root)
    return root


def _codes(services: Services) -> list[str]:
    """Every common stock the last day's analysis answers for."""
    data = services.model_data()
    return [c for i, c in enumerate(data.panel.codes)
            if data.universe[i] and data.panel.traded[i, -1] and not data.tickers[c].delisting_date]


def _same(a: Analysis, b: Analysis) -> None:
    assert format_analysis(a) == format_analysis(b)
    # every number, to the last bit (json spells NaN the same on both sides, where == would not)
    assert json.dumps(a.result.as_dict(), sort_keys=True) == json.dumps(b.result.as_dict(), sort_keys=True)
    assert a.headline == b.headline and (a.close, a.change_1d) == (b.close, b.change_1d)


def _computed(root: Path, code: str) -> Analysis:
    """The analysis as the models give it (a process that loaded them predicts the day itself)."""
    services = _services(root)
    services.all_serving()
    try:
        return analyze(services, code)
    finally:
        services.close()


def test_a_cold_analysis_answers_from_the_stored_day_with_the_models_text(ws: Path) -> None:
    warm = _services(ws)
    warm.all_serving()
    cold = _services(ws)
    codes = _codes(cold)
    assert len(codes) > 20
    for code in codes:
        _same(analyze(cold, code), analyze(warm, code))
    assert not cold.models_loaded()  # nothing was loaded, nothing predicted: the stored day answered
    assert cold.stored_day_memo.current is not None
    assert analyze(cold, codes[0]).result.shap_top3  # the reasons came along
    if torch_available():
        assert set(analyze(cold, codes[0]).result.model_versions) == {"trees", "lstm", "sector"}
    warm.close()
    cold.close()


def test_the_window_length_comes_from_the_stored_day_without_loading_a_model(ws: Path) -> None:
    cold, warm = _services(ws), _services(ws)
    warm.all_serving()
    assert cold.sequence_days() == warm.sequence_days()
    assert not cold.models_loaded()
    cold.close()
    warm.close()


def _assert_falls_back(root: Path) -> None:
    cold = _services(root)
    code = _codes(cold)[0]
    answer = analyze(cold, code)
    assert cold.models_loaded(), "a stored day that does not match must not answer"
    _same(answer, _computed(root, code))
    cold.close()


def test_a_retrained_model_is_a_miss(ws: Path) -> None:
    base = ws / "models" / "trees"
    serving = (base / "CURRENT").read_text().strip()
    shutil.copytree(base / serving, base / "29990101T000000000000")  # a new version (same files, new name)
    (base / "CURRENT").write_text("29990101T000000000000")
    cold = _services(ws)
    assert analyze(cold, _codes(cold)[0]).result.model_versions["trees"] == "29990101T000000000000"
    cold.close()
    _assert_falls_back(ws)


def test_a_data_update_is_a_miss(ws: Path) -> None:
    services = _services(ws)
    services.store.log_update("test", 0, "ok")
    services.close()
    _assert_falls_back(ws)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other key", "code changed"])
def test_a_damaged_or_foreign_file_is_a_miss(ws: Path, damage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ws / "s.db.day.npz"
    if damage == "garbage":
        path.write_bytes(b"not a stored day")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "other key":
        monkeypatch.setattr(stored_day, "FORMAT", stored_day.FORMAT + 1)
    else:
        monkeypatch.setattr(stored_day, "_CODE_DIGEST", "0" * 64)
    _assert_falls_back(ws)


def test_a_served_model_file_changed_since_the_scoring_is_a_miss(ws: Path) -> None:
    base = ws / "models" / "trees"
    folder = base / (base / "CURRENT").read_text().strip()
    victim = next(p for p in sorted(folder.iterdir()) if p.name != "meta.json")
    victim.write_bytes(victim.read_bytes() + b" ")
    cold = _services(ws)
    assert stored_day.stored_day(cold) is None
    cold.close()


def test_an_older_day_is_predicted_not_read(ws: Path) -> None:
    cold = _services(ws)
    data = cold.model_data()
    code = _codes(cold)[0]
    older = str(data.dates[-3])
    warm = _services(ws)
    warm.all_serving()
    answer = analyze(cold, code, date=older)
    assert answer.result.date == older and cold.models_loaded()
    _same(answer, analyze(warm, code, date=older))
    cold.close()
    warm.close()


def test_scoring_an_older_day_keeps_the_last_days_file(ws: Path) -> None:
    services = _services(ws)
    before = (ws / "s.db.day.npz").read_bytes()
    score_market(services, date=str(services.model_data().dates[-2]))
    assert (ws / "s.db.day.npz").read_bytes() == before
    services.close()


def test_a_data_update_during_the_scoring_leaves_no_matching_file(ws: Path) -> None:
    services = _services(ws)
    data = services.model_data()
    pred = predict_day(services, len(data.dates) - 1, data)
    services.store.log_update("test", 0, "ok")  # lands after the window was read, before the file is written
    stored_day.save(services, data, pred)
    services.close()
    _assert_falls_back(ws)


def test_a_stored_day_that_cannot_be_written_never_fails_the_scoring(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("no explanation today")

    monkeypatch.setattr(stored_day, "explain_day", broken)
    services = _services(ws)
    assert score_market(services).scored > 0
    services.close()
    assert not (ws / "s.db.day.npz").exists()
    _assert_falls_back(ws)


def test_a_changed_setting_is_a_miss(ws: Path) -> None:
    cold = Services(synth_settings(ws).with_overrides(target_return=0.05))  # another label: another question
    cold.clock = lambda: NOW
    analyze(cold, _codes(cold)[0])
    assert cold.models_loaded()
    cold.close()


@pytest.mark.torch
def test_a_model_weighted_zero_is_shown_as_reference_only(ws: Path) -> None:
    """With the default weights (sector 0) the analysis says the sector model's head does not decide the call,
    and /model gives each model's share of it."""
    if not torch_available():
        pytest.skip("torch is not installed")
    from kstock.bot.messages import models_text
    from kstock.service.status import models_status

    services = _services(ws)
    try:
        text = format_analysis(analyze(services, _codes(services)[0]))
        assert "섹터 모델:" in text and "(참고용 · 종합 판단에 반영 안 함)" in text
        rows = {r["name"]: r for r in models_status(services)}
        assert rows["trees"]["ensemble_share"] == pytest.approx(0.8)
        assert rows["lstm"]["ensemble_share"] == pytest.approx(0.2)
        assert rows["sector"]["ensemble_share"] == 0.0
        shown = models_text(list(rows.values()), admin=False)
        assert "종합 판단 비중 80%" in shown and "종합 판단 비중 20%" in shown
        assert "종합 판단에 반영 안 함 (참고용)" in shown
    finally:
        services.close()


def test_shares_follow_the_available_models() -> None:
    from kstock.service.status import ensemble_shares

    weights = {"trees": 0.6, "lstm": 0.4, "sector": 0.0}
    assert ensemble_shares(weights, ["trees"]) == {"trees": 1.0}  # no torch: the trees decide alone
    assert ensemble_shares(weights, ["sector"]) == {"sector": 1.0}  # a lone zero-weight model still answers
    assert ensemble_shares(weights, []) == {}
