"""`analyze`: the good path and every bad input as a clear KstockError."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.errors import KstockError
from kstock.ml.trees import FEATURE_SETS
from kstock.service.analyze import (
    MIN_HISTORY_DAYS,
    AmbiguousTickerError,
    NoPriceDataError,
    NotScorableError,
    UnknownTickerError,
    analyze,
)
from kstock.service.predict import call_labels, predict_day
from kstock.service.presenters import DISCLAIMER, format_analysis


def halt_day(services) -> tuple[str, str]:
    """A (code, date) where a common stock was halted while the market traded."""
    data = services.model_data()
    halted = data.panel.halted & ~data.panel.traded & data.universe[:, None]
    rows, cols = np.nonzero(halted)
    assert rows.size, "the synthetic market should contain a halt"
    return data.panel.codes[rows[0]], str(data.dates[cols[0]])


def late_listing(services) -> tuple[str, np.ndarray]:
    """A common stock listed mid-period and the indices of its traded days."""
    data = services.model_data()
    for i, code in enumerate(data.panel.codes):
        traded = np.flatnonzero(data.panel.traded[i])
        listed_late = traded[0] > 0 and len(traded) > MIN_HISTORY_DAYS
        if data.universe[i] and listed_late and not data.tickers[code].delisting_date:
            return code, traded
    raise AssertionError("the synthetic market should list a stock mid-period")


# -- the good path -------------------------------------------------------------------------------------
def test_analyze_by_name_and_by_code(synth_services) -> None:
    data = synth_services.model_data()
    a = analyze(synth_services, "삼성전자")
    r = a.result
    assert (a.ticker.code, r.code, r.name) == ("005930", "005930", "삼성전자")
    assert r.date == str(data.dates[-1])
    assert 0.0 <= r.probability <= 1.0
    assert 0.0 <= r.score <= 1.0
    assert r.label in ("BUY", "HOLD", "SELL")
    assert len(r.shap_top3) == 3 and all(x.feature in FEATURE_SETS["extra"] for x in r.shap_top3)
    assert set(r.model_versions) >= {"trees"}
    assert r.model_versions["trees"] == synth_services.registry.current("trees").version
    assert r.members["trees"] is not None and 0 <= r.members["trees"]["probability"] <= 1
    assert a.close == pytest.approx(data.panel.close[data.panel.index_of("005930"), -1])
    assert a.model_ages["trees"] < 1
    assert analyze(synth_services, "005930").result.score == r.score


def test_analyze_as_of_an_earlier_day(synth_services) -> None:
    data = synth_services.model_data()
    day = str(data.dates[-40])
    r = analyze(synth_services, "SK하이닉스", date=day).result
    assert r.date == day and r.label in ("BUY", "HOLD", "SELL")


def test_label_follows_the_days_cross_section(synth_services) -> None:
    data = synth_services.model_data()
    pred = predict_day(synth_services, len(data.dates) - 1)
    labels = pred.labels[data.universe & data.panel.traded[:, -1]]
    assert set(labels) == {"BUY", "HOLD", "SELL"}
    assert (labels == "BUY").sum() >= 1 and (labels == "SELL").sum() >= 1
    assert (pred.labels[~data.universe] == "").all()  # ETFs etc. are not scored
    assert (pred.labels[~data.panel.traded[:, -1]] == "").all()  # nor names that did not trade


def test_call_labels_on_small_and_degenerate_days() -> None:
    assert call_labels(np.array([np.nan, 1.0])).tolist() == ["", "HOLD"]  # one name ranks nothing
    assert call_labels(np.full(5, 0.5)).tolist() == ["HOLD"] * 5  # identical scores: no call
    assert call_labels(np.array([np.nan, np.nan])).tolist() == ["", ""]
    labels = call_labels(np.arange(20, dtype=float))
    assert labels[:2].tolist() == ["SELL", "SELL"] and labels[-2:].tolist() == ["BUY", "BUY"]
    assert (labels[2:-2] == "HOLD").all()


def test_chart_is_a_png(synth_services) -> None:
    """Speed is measured in benchmarks/bench_trees.py, not here."""
    from kstock.charts.analysis import draw_analysis

    a = analyze(synth_services, "삼성전자", chart=True)
    assert a.chart is not None  # plain data from the service; the caller draws
    png = draw_analysis(a.chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_text_presentation(synth_services) -> None:
    text = format_analysis(analyze(synth_services, "삼성전자"))
    assert "삼성전자 (005930)" in text and "기준일" in text and "주요 근거 (" in text
    assert text.rstrip().endswith(DISCLAIMER)
    assert "사용 불가" not in text.split("모델:")[1].split("트리")[1].split("·")[0]


# -- bad inputs ----------------------------------------------------------------------------------------------
def test_unknown_name_offers_suggestions(synth_services) -> None:
    with pytest.raises(UnknownTickerError) as err:
        analyze(synth_services, "삼송전자")
    assert "삼성전자" in [t.name for t in err.value.suggestions]
    assert "삼성전자" in str(err.value)


def test_unknown_code(synth_services) -> None:
    with pytest.raises(UnknownTickerError, match="999999"):
        analyze(synth_services, "999999")
    with pytest.raises(KstockError):
        analyze(synth_services, "   ")


def test_ambiguous_name_lists_candidates(synth_services) -> None:
    with pytest.raises(AmbiguousTickerError) as err:
        analyze(synth_services, "제과")
    assert len(err.value.candidates) >= 2 and "세양제과" in str(err.value)


@pytest.mark.parametrize(("query", "kind"), [("069500", "ETF"), ("005935", "우선주"), ("삼성전자우", "우선주"),
                                             ("413270", "스팩"), ("447360", "리츠")])
def test_not_a_common_stock(synth_services, query: str, kind: str) -> None:
    with pytest.raises(NotScorableError, match=kind):
        analyze(synth_services, query)


def test_delisted_stock(synth_services) -> None:
    with pytest.raises(NotScorableError, match="상장폐지"):
        analyze(synth_services, "333730")


def test_halted_stock_on_its_halt_day(synth_services) -> None:
    code, day = halt_day(synth_services)
    with pytest.raises(NoPriceDataError, match="거래되지 않았습니다") as err:
        analyze(synth_services, code, date=day)
    assert day in str(err.value) and "마지막 거래일" in str(err.value)


def test_too_little_history(synth_services) -> None:
    code, traded = late_listing(synth_services)
    data = synth_services.model_data()
    early = str(data.dates[traded[20]])
    with pytest.raises(NoPriceDataError, match=f"최소 {MIN_HISTORY_DAYS}일"):
        analyze(synth_services, code, date=early)
    # before its listing it simply did not trade
    with pytest.raises(NoPriceDataError):
        analyze(synth_services, code, date=str(data.dates[traded[0] - 1]))
    # with enough history it is analysed
    ok = str(data.dates[traded[MIN_HISTORY_DAYS + 5]])
    assert analyze(synth_services, code, date=ok).result.date == ok


@pytest.mark.parametrize("date", ["2025-06-28", "2020-01-02", "2030-01-02", "2025-13-45", "yesterday"])
def test_date_without_data(synth_services, date: str) -> None:
    """A weekend, a day before/after the data, a non-date: a clear message."""
    with pytest.raises(NoPriceDataError, match=date):
        analyze(synth_services, "삼성전자", date=date)


def test_every_bad_input_is_a_kstock_error(synth_services) -> None:
    code, day = halt_day(synth_services)
    for query, date in [("없는회사", None), ("069500", None), (code, day), ("삼성전자", "2025-06-28")]:
        with pytest.raises(KstockError) as err:
            analyze(synth_services, query, date=date)
        assert "\n" not in str(err.value)


def test_a_model_that_fails_to_predict_is_unavailable_and_the_others_answer(workspace, monkeypatch) -> None:
    from kstock.ml import models as model_kinds

    _root, services = workspace
    monkeypatch.setitem(model_kinds.KINDS, "broken", model_kinds.Kind("support.models:BrokenModel", "고장 모델", 0.0))
    version = services.registry.save("broken", lambda folder: (folder / "w.txt").write_text("w"), {})
    services.registry.promote(version)
    result = analyze(services, "삼성전자").result
    assert result.label in ("BUY", "HOLD", "SELL") and "trees" in result.model_versions
    assert "broken" not in result.model_versions
    assert result.members["broken"] is None and "예측 실패" in result.unavailable["broken"]
    # every kind is loaded with the service's settings (KSTOCK_USE_GPU picks the deep models' device)
    assert services.serving("broken").model.settings is services.settings
