"""The tree predictor: persistence in the libraries' own formats, SHAP reasons, labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kstock.errors import KstockError
from kstock.features.extra import EXTRA_FEATURE_LABELS
from kstock.features.tabular import FEATURE_LABELS, FEATURE_NAMES
from kstock.ml.base import PredictionResult, score_to_label
from kstock.ml.trees import FEATURE_SETS, TreeParams, TreePredictor
from kstock.ml.trees.predictor import score_keys
from kstock.service.analyze import analyze, describe_feature, share_above


@pytest.fixture(scope="module")
def served(synth_services):
    serving = synth_services.serving("trees")
    assert serving.model is not None, serving.reason
    return serving


def test_save_load_gives_identical_predictions(served, synth_services, tmp_path: Path) -> None:
    data = synth_services.model_data()
    model = served.model
    days = np.arange(len(data.dates) - 30, len(data.dates))
    before = model.predict_days(data, days)
    model.save(tmp_path)
    again = TreePredictor.load(tmp_path)
    after = again.predict_days(data, days)
    np.testing.assert_array_equal(before.probability, after.probability)
    np.testing.assert_array_equal(before.score, after.score)
    assert np.isfinite(before.score).sum() > 0
    assert again.label_cuts == pytest.approx(model.label_cuts)
    assert again.params == model.params
    # the registry copy loads to the same model as well
    from_registry = TreePredictor.load(served.version.path)
    np.testing.assert_array_equal(from_registry.predict_days(data, days).score, before.score)


def test_files_are_library_formats_never_pickle(served) -> None:
    folder = served.version.path
    names = sorted(p.name for p in folder.iterdir())
    seeds = [""] + [f"_{i}" for i in range(1, served.model.params.score_seeds)]  # the score models' seeds
    assert names == sorted(["lgb_up.txt", "meta.json", "predictor.json", "xgb_up.ubj",
                            *(f"lgb_rank{s}.txt" for s in seeds), *(f"xgb_rank{s}.ubj" for s in seeds)])
    for path in folder.iterdir():
        head = path.read_bytes()[:2]
        assert not head.startswith(b"\x80"), f"{path.name} looks like a pickle"
    assert (folder / "lgb_rank.txt").read_text().startswith("tree")
    assert (folder / "xgb_rank.ubj").read_bytes()[:1] == b"{"  # UBJSON object
    info = json.loads((folder / "predictor.json").read_text())
    assert info["features"] == list(served.model.feature_names)
    meta = json.loads((folder / "meta.json").read_text())
    assert {"trained_at", "data_range", "features", "validation", "libraries"} <= set(meta)
    assert {"lightgbm", "xgboost", "numpy"} <= set(meta["libraries"])
    assert np.isfinite(meta["validation"]["rank_ic_mean"])


def test_outputs_are_in_range(served, synth_services) -> None:
    data = synth_services.model_data()
    out = served.model.predict_days(data, np.array([len(data.dates) - 1]))
    ok = np.isfinite(out.probability[:, 0])
    assert ok.sum() >= 20
    assert ((out.probability[ok, 0] >= 0) & (out.probability[ok, 0] <= 1)).all()
    # ETFs, preferred shares and other non-common instruments are never scored
    assert np.isnan(out.score[~data.universe, 0]).all()
    np.testing.assert_array_equal(np.isfinite(out.score[:, 0]), ok)


def test_contributions_plus_bias_equal_the_rank_models_raw_prediction(served, synth_services) -> None:
    data = synth_services.model_data()
    model = served.model
    x = model.day_rows(data, len(data.dates) - 1)[data.panel.index_of("005930")]
    contrib = model.contributions(x)
    assert contrib.shape == (len(model.feature_names),)
    seeds = score_keys("lgb", model.params.score_seeds)
    assert len(seeds) == model.params.score_seeds >= 2  # the default averages several seeds
    bias = np.mean([model.boosters[k].predict(x.reshape(1, -1), pred_contrib=True)[0, -1] for k in seeds])
    raw = np.mean([model.boosters[k].predict(x.reshape(1, -1), raw_score=True)[0] for k in seeds])
    assert contrib.sum() + bias == pytest.approx(raw, abs=1e-9)


def test_shap_reasons_name_real_features(synth_services) -> None:
    analysis = analyze(synth_services, "삼성전자")
    reasons = analysis.result.shap_top3
    assert len(reasons) == 3
    for reason in reasons:
        assert reason.feature in FEATURE_SETS["extra"]
        assert {**FEATURE_LABELS, **EXTRA_FEATURE_LABELS}[reason.feature][0] in reason.text
        assert reason.text.endswith("↑" if reason.contribution >= 0 else "↓")
    # ordered by the size of their push
    sizes = [abs(r.contribution) for r in reasons]
    assert sizes == sorted(sizes, reverse=True)
    # each reason's value is the day's feature value
    data = synth_services.model_data()
    model = synth_services.serving("trees").model
    x = model.day_rows(data, len(data.dates) - 1)[data.panel.index_of("005930")]
    for reason in reasons:
        assert reason.value == pytest.approx(float(x[model.feature_names.index(reason.feature)]))


def test_describe_feature_reads_like_a_person() -> None:
    assert describe_feature("ret_20d", 0.12, 0.05, 0.01) == "20일 수익률 +12.0% (상위 5%) ↑"
    assert describe_feature("vol_20d", 0.031, 0.9, -0.01) == "20일 변동성 3.1% (하위 10%) ↓"
    assert describe_feature("volume_ratio_1_20", 2.5, None, 0.0) == "당일 거래량/20일 평균 2.50배 ↑"
    assert describe_feature("rsi_14", float("nan"), None, 0.0).startswith("RSI(14) 정보 없음")
    # jargon said in words, places and shares as %, log ratios as the ratio (not "0.11 ↑" beside percentages)
    assert describe_feature("atr_14", 0.064, 0.44, -0.01) == "14일 하루 평균 변동폭(ATR) 6.4% (상위 44%) ↓"
    assert describe_feature("bb_position", 0.11, None, 0.01) == "볼린저밴드 안 위치 11% ↑"
    assert describe_feature("mkt_breadth_ma20", 0.62, None, 0.01) == "20일선 위 종목 비율 62% ↑"
    assert describe_feature("turnover_shock_1_60", float(np.log(2.0)), None, 0.01) == "당일 거래대금/60일 평균 2.00배 ↑"


def test_a_market_wide_reason_has_no_rank_among_stocks() -> None:
    """The market's own state is the same for every name: '시장 20일 수익률 -10.9% (상위 1%)' (read on real data)
    ranked a value every stock shares."""
    market = np.full(50, -0.109)
    assert share_above(market, -0.109) is None
    assert describe_feature("mkt_ret_20d", -0.109, share_above(market, -0.109), -0.01) == "시장 20일 수익률 -10.9% ↓"
    ranked = np.array([0.1, 0.2, np.nan, 0.3, 0.4])
    assert share_above(ranked, 0.3) == pytest.approx(0.25)  # one of the four known values is higher
    assert share_above(ranked, float("nan")) is None


def test_score_to_label() -> None:
    cuts = (0.4, 0.6)
    assert score_to_label(0.7, cuts) == "BUY"
    assert score_to_label(0.6, cuts) == "BUY"
    assert score_to_label(0.5, cuts) == "HOLD"
    assert score_to_label(0.4, cuts) == "SELL"
    assert score_to_label(0.1, cuts) == "SELL"
    assert score_to_label(None, cuts) == "HOLD"
    assert score_to_label(float("nan"), cuts) == "HOLD"


def test_params_from_dict_ignores_unknown_keys() -> None:
    params = TreeParams.from_dict({"n_estimators": 7, "learning_rate": 0.2, "bogus": 1})
    assert params.n_estimators == 7 and params.learning_rate == 0.2
    assert params.num_leaves == TreeParams().num_leaves


def test_prediction_result_as_dict() -> None:
    result = PredictionResult("005930", "삼성전자", "2025-06-30", 0.4, 0.7, "BUY")
    d = result.as_dict()
    assert d["probability"] == 0.4 and d["label"] == "BUY" and d["shap_top3"] == []


def test_too_few_training_samples_is_a_clear_error(synth_services) -> None:
    data = synth_services.model_data()
    days = np.zeros(len(data.dates), dtype=bool)
    days[-8:-6] = True  # two days → far fewer than 200 samples
    with pytest.raises(KstockError, match="too few training samples"):
        TreePredictor(TreeParams(n_estimators=5), n_jobs=1).fit(data, days)


def test_unfitted_and_mismatched_models_refuse(served, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        TreePredictor().predict_matrix(np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32))
    served.model.save(tmp_path)
    info = json.loads((tmp_path / "predictor.json").read_text())
    info["features"] = info["features"][:-1]
    (tmp_path / "predictor.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="different feature list"):
        TreePredictor.load(tmp_path)


@pytest.mark.parametrize("name", ["lgb_up.txt", "lgb_rank.txt", "xgb_up.ubj", "xgb_rank.ubj"])
@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_lightgbm_file_raises_instead_of_crashing(served, tmp_path: Path, name: str, keep: float) -> None:
    """LightGBM and XGBoost can segfault on a truncated model file; the loader must refuse it first."""
    served.model.save(tmp_path)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="corrupt"):
        TreePredictor.load(tmp_path)
    # a model saved before checksums were recorded: the LightGBM text is still checked for its end
    info = json.loads((tmp_path / "predictor.json").read_text())
    del info["files"]
    (tmp_path / "predictor.json").write_text(json.dumps(info))
    if name.startswith("lgb"):
        with pytest.raises(ValueError, match="truncated"):
            TreePredictor.load(tmp_path)
