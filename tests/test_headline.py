"""One number per call: the headline text, which table serves it, and BUY never worse than SELL on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kstock.config import Settings
from kstock.ml.evaluation.calibration import Band, CalibrationTable
from kstock.service.headline import NO_RECORD, headline, rank_text, serving_table


def settings(horizon: int = 5, target: float = 0.03) -> Settings:
    return Settings.from_env({}, dotenv=None).with_overrides(label_horizon=horizon, target_return=target)


def table_of(excess: list[float], n: int = 41_200, horizon: int = 5) -> CalibrationTable:
    bands = tuple(Band(i, i / 10, (i + 1) / 10, e + 0.001, e, 0.5 + e * 10, n) for i, e in enumerate(excess))
    return CalibrationTable(horizon, bands, {"kind": "test", "first_day": "2023-01-02", "last_day": "2025-06-30",
                                             "days": 615})


RISING = [(i - 4.5) / 500 for i in range(10)]  # -0.9 % … +0.9 %


# -- the text ---------------------------------------------------------------------------------------
def test_headline_reads_the_band_of_the_percentile() -> None:
    h = headline(settings(), table_of(RISING), 0.95)
    assert h.call == "BUY" and h.band == 9 and h.n == 41_200
    assert h.excess == pytest.approx(0.009) and h.hit_rate == pytest.approx(0.59)
    assert h.text == "예상 5일 초과수익률 +0.9% (과거 같은 등급 종목 59%가 시장을 이김, 표본 41,200)"
    low = headline(settings(), table_of(RISING), 0.02)
    assert low.call == "SELL" and low.text.startswith("예상 5일 초과수익률 -0.9% (과거 같은 등급 종목 41%")
    assert headline(settings(), table_of(RISING), 0.5).call == "HOLD"


def test_horizon_comes_from_the_settings_and_the_target_is_not_shown() -> None:
    h = headline(settings(horizon=10, target=0.05), table_of(RISING, horizon=10), 0.95)
    assert h.text.startswith("예상 10일 초과수익률") and "5일" not in h.text and "%가" in h.text
    assert "+5%" not in h.text and "+3%" not in h.text


def test_no_table_yet_says_so_and_shows_no_number() -> None:
    h = headline(settings(), None, 0.95)
    assert h.call == "BUY" and h.text == f"예상 5일 초과수익률: {NO_RECORD}"
    assert (h.excess, h.hit_rate, h.n) == (None, None, 0)
    assert not any(ch.isdigit() for ch in h.text.replace("5일", ""))
    # a table measured for another horizon answers another question: treated as none
    stale = headline(settings(horizon=10), table_of(RISING), 0.95)
    assert stale.excess is None and NO_RECORD in stale.text and stale.text.startswith("예상 10일")


def test_thin_band_and_missing_score() -> None:
    thin = headline(settings(), table_of(RISING, n=12), 0.95)
    assert thin.excess is None and "표본 부족 (12건)" in thin.text
    none = headline(settings(), table_of(RISING), None)
    assert none.call == "" and none.excess is None and none.percentile is None


def test_a_buy_headline_is_never_worse_than_a_sell_headline() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        table = table_of(list(rng.normal(0, 0.01, 10)))
        heads = [headline(settings(), table, p) for p in np.linspace(0, 1, 201)]
        buys = [h.excess for h in heads if h.call == "BUY"]
        sells = [h.excess for h in heads if h.call == "SELL"]
        assert all(b > 0 for b in buys) and all(s < 0 for s in sells)


def test_day_headlines_match_the_served_calls(synth_services) -> None:
    from kstock.service.headline import day_headlines
    from kstock.service.predict import predict_day

    data = synth_services.model_data()
    pred = predict_day(synth_services, len(data.dates) - 1)
    heads = day_headlines(synth_services.settings, pred.table, pred.ensemble.score[:, 0])
    assert [h.call for h in heads] == list(pred.labels)
    scored = np.isfinite(pred.ensemble.score[:, 0])
    stored = day_headlines(synth_services.settings, pred.table, pred.ensemble.score[scored, 0])  # NaN-free column
    assert [h.text for h in stored] == [h.text for h, ok in zip(heads, scored, strict=True) if ok]


def test_rank_text() -> None:
    assert (rank_text(0.95), rank_text(1.0), rank_text(0.5), rank_text(0.03), rank_text(0.0)) == \
        ("상위 5%", "상위 1%", "상위 50%", "하위 3%", "하위 1%")


# -- which table serves ------------------------------------------------------------------------------
def test_training_stores_the_validation_table_and_analyze_leads_with_it(synth_services) -> None:
    from kstock.service.analyze import analyze
    from kstock.service.presenters import format_analysis

    meta = synth_services.registry.current("trees").meta
    table = CalibrationTable.from_dict(meta["calibration"])
    assert table is not None and table.source == {**table.source, "kind": "validation", "model": "trees"}
    assert serving_table(synth_services) == table
    a = analyze(synth_services, "삼성전자")
    assert a.headline is not None and a.headline.call == a.result.label
    assert a.headline.band == table.band_for(a.headline.percentile).index
    lines = format_analysis(a).splitlines()
    assert lines[1].startswith("판단: ") and lines[2] == a.headline.text
    assert lines[2].startswith("예상 5일 초과수익률")
    text = "\n".join(lines)
    assert "확률" not in text and "+3%" not in text  # the P(+3 %) number is not shown to users


def test_evaluated_ensemble_table_serves_while_its_members_serve(workspace) -> None:
    _root, services = workspace
    trees_table = serving_table(services)
    ensemble_table = table_of(RISING)
    save = lambda weights: services.registry.promote(services.registry.save(  # noqa: E731
        "ensemble", lambda _f: None, {"weights": weights, "calibration": ensemble_table.as_dict()}))
    save({"trees": 1.0})
    assert serving_table(services) == ensemble_table
    save({"trees": 0.6, "lstm": 0.4})  # a member it weighs is not serving here: its table is not the served score's
    assert serving_table(services) == trees_table


def test_never_evaluated_nor_validated_means_no_table(workspace) -> None:
    import json

    _root, services = workspace
    current = services.registry.current("trees")
    meta = json.loads((current.path / "meta.json").read_text())
    del meta["calibration"]  # a model trained before tables were recorded
    (current.path / "meta.json").write_text(json.dumps(meta))
    services.forget_model("trees")
    assert serving_table(services) is None
    from kstock.service.analyze import analyze

    a = analyze(services, "삼성전자")
    assert NO_RECORD in a.headline.text and a.headline.excess is None
    assert a.result.label == a.headline.call


# -- real data ---------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow
def test_buy_never_worse_than_sell_on_real_data(krx_dir: Path, tmp_path: Path) -> None:
    from kstock.market.csv_import import import_directory
    from kstock.market.store import MarketStore
    from kstock.service.context import Services
    from kstock.service.predict import predict_day
    from kstock.service.retrain import retrain
    from support.workspace import fast_tree_options

    store = MarketStore(tmp_path / "s.db")
    import_directory(store, krx_dir / "market_2023_2025", tickers_file=krx_dir / "tickers.csv",
                     sectors_file=krx_dir / "krx_industry_2021-12.csv",
                     index_files={"KOSPI": krx_dir / "index" / "kospi.csv"}, progress=False)
    base = Settings.from_env({}, dotenv=None)
    services = Services(base.with_overrides(db_path=tmp_path / "s.db", model_dir=tmp_path / "models"), store)
    assert retrain(services, "trees", **fast_tree_options()).status == "promoted"
    table = serving_table(services)
    assert table is not None and table.n > 50_000 and all(b.reliable for b in table.bands)
    data = services.model_data()
    for day in (len(data.dates) - 1, len(data.dates) - 30):
        pred = predict_day(services, day)
        heads = [headline(services.settings, pred.table, p) for p in pred.percentile]
        assert [h.call for h in heads] == list(pred.labels)
        buys = [h.excess for h in heads if h.call == "BUY"]
        sells = [h.excess for h in heads if h.call == "SELL"]
        assert buys or sells
        assert min(buys, default=np.inf) > max(sells, default=-np.inf)
    services.close()
