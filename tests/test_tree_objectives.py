"""The trees' score-model variations: extra features, a ranking objective, the next-day label (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kstock.features.extra import EXTRA_FEATURE_NAMES
from kstock.features.tabular import FEATURE_NAMES
from kstock.ml.trees import FEATURE_SETS, TreeParams, TreePredictor
from kstock.ml.trees.objectives import RANK_GRADES, RankObjective, rank_target, score_from_raw
from kstock.ml.trees.predictor import score_keys


@pytest.fixture(scope="module")
def data(deep_model_data):
    return deep_model_data


@pytest.fixture(scope="module")
def train_days(deep_train_days):
    return deep_train_days


def _fit(data, train_days, **kw) -> TreePredictor:
    model = TreePredictor(TreeParams(**{"n_estimators": 20, **kw}), n_jobs=1)
    model.fit(data, train_days)
    return model


def _last_days(data, n: int = 30) -> np.ndarray:
    return np.arange(len(data.dates) - n, len(data.dates))


def test_feature_sets_keep_the_seeds_thirty_first() -> None:
    assert FEATURE_SETS["base"] is FEATURE_NAMES
    assert FEATURE_SETS["extra"] == FEATURE_NAMES + EXTRA_FEATURE_NAMES


def test_defaults_are_the_confirmed_configuration() -> None:
    """Extra features + the next-day label won on kospi_2020_2026 and held on market_2023_2025 (issue 16)."""
    params = TreeParams()
    assert (params.feature_set, params.objective, params.label) == ("extra", "regression", "tradeable")


def test_unknown_settings_are_refused() -> None:
    for kw in ({"feature_set": "more"}, {"objective": "lambda"}, {"label": "open"}):
        with pytest.raises(ValueError, match="must be one of"):
            TreeParams(**kw)


@pytest.mark.parametrize("kw", [{"feature_set": "extra"}, {"objective": "ranking"}, {"label": "tradeable"},
                                {"feature_set": "extra", "objective": "ranking", "label": "tradeable"}])
def test_each_variation_trains_predicts_and_round_trips(data, train_days, tmp_path: Path, kw: dict) -> None:
    model = _fit(data, train_days, **kw)
    days = _last_days(data)
    out = model.predict_days(data, days)
    ok = np.isfinite(out.score)
    assert ok.sum() > 100
    assert (out.score[ok] >= 0).all() and (out.score[ok] <= 1).all()
    assert np.isfinite(out.probability[ok]).all()
    assert model.boosters["lgb_rank"].num_feature() == len(model.feature_names)
    model.save(tmp_path)
    again = TreePredictor.load(tmp_path)
    assert again.params == model.params and again.score_scale == model.score_scale
    np.testing.assert_array_equal(again.predict_days(data, days).score, out.score)
    assert len(model.contributions(model.feature_rows(data, np.array([0]), days[-1:])[0])) == len(model.feature_names)


def test_ranking_boosters_use_ranking_objectives(data, train_days) -> None:
    model = _fit(data, train_days, objective="ranking")
    assert "lambdarank" in model.boosters["lgb_rank"].model_to_string()[:2000]
    import json

    config = json.loads(model.boosters["xgb_rank"].save_config())
    assert config["learner"]["objective"]["name"] == "rank:pairwise"
    assert set(model.score_scale) == {"lgb_rank", "xgb_rank"}


def test_score_models_average_several_seeds_and_a_one_seed_model_still_loads(data, train_days, tmp_path) -> None:
    """The default score is the mean of three seed pairs (each sees other feature subsets); a model saved
    before that option (one pair, no ``score_seeds`` in its file) loads and scores exactly as it was saved."""
    model = _fit(data, train_days)
    assert model.params.score_seeds == 3
    x = model.day_rows(data, int(np.flatnonzero(train_days)[-1]))
    seeds = [model.boosters[k].predict(x) for k in score_keys("lgb", 3)]
    assert not np.allclose(seeds[0], seeds[1])  # really different models
    one = _fit(data, train_days, score_seeds=1)
    assert set(one.boosters) == {"lgb_up", "xgb_up", "lgb_rank", "xgb_rank"}
    one.save(tmp_path)
    info = json.loads((tmp_path / "predictor.json").read_text())
    del info["params"]["score_seeds"]  # as a model from before the option
    (tmp_path / "predictor.json").write_text(json.dumps(info))
    loaded = TreePredictor.load(tmp_path)
    assert loaded.params.score_seeds == 1
    days = _last_days(data)
    np.testing.assert_array_equal(loaded.predict_days(data, days).score, one.predict_days(data, days).score)
    with pytest.raises(ValueError, match="score_seeds"):
        TreeParams(score_seeds=0)


def test_score_only_model_skips_the_probability(data, train_days) -> None:
    model = TreePredictor(TreeParams(n_estimators=10), n_jobs=1, probability=False)
    model.fit(data, train_days)
    assert set(model.boosters) == {*score_keys("lgb", 3), *score_keys("xgb", 3)}  # no lgb_up / xgb_up
    out = model.predict_days(data, _last_days(data))
    assert np.isnan(out.probability).all() and np.isfinite(out.score).any()
    reference = TreePredictor(TreeParams(n_estimators=10), n_jobs=1)
    reference.fit(data, train_days)
    np.testing.assert_allclose(reference.predict_days(data, _last_days(data)).score, out.score)


def test_tradeable_label_leaves_out_the_last_training_day(data, train_days, monkeypatch) -> None:
    """Its label ends one day later than the close label: the last day would reach past the embargo."""
    seen = []
    original = TreePredictor._fit_lgb

    def spy(self, x, y_up, y_rank, bar=None, ranking=None):
        seen.append(len(x))
        return original(self, x, y_up, y_rank, bar, ranking)

    monkeypatch.setattr(TreePredictor, "_fit_lgb", spy)
    TreePredictor(TreeParams(n_estimators=5, label="tradeable", day_stride=1), n_jobs=1).fit(data, train_days)
    finite = np.isfinite(data.labels.tradeable_return)
    without_last = train_days.copy()
    without_last[np.flatnonzero(train_days)[-1]] = False
    assert seen == [int((data.sample_mask(without_last) & finite).sum())]
    assert seen[0] < int((data.sample_mask(train_days) & finite).sum())


def test_rank_target_of_the_tradeable_label(data) -> None:
    target = rank_target(data.labels, "tradeable")
    assert target is not data.labels.rank
    ok = np.isfinite(target)
    assert ok.sum() > 0 and (target[ok] >= 0).all() and (target[ok] <= 1).all()
    np.testing.assert_array_equal(ok, np.isfinite(data.labels.tradeable_return))
    assert rank_target(data.labels, "close") is data.labels.rank


def test_rank_objective_groups_and_grades() -> None:
    ranking = RankObjective(np.array([0, 0, 0, 2, 2, 5]))
    np.testing.assert_array_equal(ranking.groups, [3, 2, 1])
    np.testing.assert_array_equal(RankObjective.grades(np.array([-1e-16, 0.0, 0.5, 0.999, 1.0])),
                                  [0, 0, RANK_GRADES // 2, RANK_GRADES - 1, RANK_GRADES - 1])
    with pytest.raises(ValueError, match="ordered by day"):
        RankObjective(np.array([1, 0]))


def test_score_from_raw_is_monotone_and_in_unit_interval() -> None:
    raw = {"lgb_rank": np.array([-3.0, 0.0, 2.0]), "xgb_rank": np.array([-1.0, 0.5, 1.0])}
    assert np.array_equal(score_from_raw(raw, {}), [-2.0, 0.25, 1.5])
    scaled = score_from_raw(raw, {"lgb_rank": (0.0, 2.0), "xgb_rank": (0.0, 1.0)})
    assert (np.diff(scaled) > 0).all() and (scaled > 0).all() and (scaled < 1).all()


def test_shuffled_label_check_also_shuffles_the_tradeable_label(data) -> None:
    """A model trained on the next-day label must see it shuffled too, else the check is no check."""
    from kstock.ml.evaluation.folds import walk_forward_folds
    from kstock.ml.evaluation.walkforward import shuffled_label_check

    folds = walk_forward_folds(data.dates, 1, data.dates[-60], embargo=5)
    before = data.labels.tradeable_return.copy()
    seen = []

    class Spy(TreePredictor):
        def fit(self, d, days):
            seen.append(np.array_equal(d.labels.tradeable_return, before, equal_nan=True))
            return super().fit(d, days)

    ic = shuffled_label_check(lambda: Spy(TreeParams(n_estimators=10, label="tradeable"), n_jobs=1), data, folds)
    assert seen == [False]
    np.testing.assert_array_equal(data.labels.tradeable_return, before)  # restored
    # scored, but not bounded: one shuffle of 34 tickers × 55 days swings ±0.1 (the real-data checks are in the
    # README: ≈ 0 over 800 tickers × 1,100 days)
    assert np.isfinite(ic)


def test_a_model_saved_before_the_options_loads_as_the_seeds(data, train_days, tmp_path: Path) -> None:
    """Old predictor.json files have no feature_set/objective/label: they were base, regression, close."""
    import json

    model = _fit(data, train_days, n_estimators=5, feature_set="base", label="close")
    model.save(tmp_path)
    info = json.loads((tmp_path / "predictor.json").read_text())
    for key in ("feature_set", "objective", "label"):
        del info["params"][key]
    del info["score_scale"]
    (tmp_path / "predictor.json").write_text(json.dumps(info))
    again = TreePredictor.load(tmp_path)
    assert (again.params.feature_set, again.params.objective, again.params.label) == ("base", "regression", "close")
    days = _last_days(data)
    np.testing.assert_array_equal(again.predict_days(data, days).score, model.predict_days(data, days).score)


def test_the_seed_api_answers_from_the_30_names_with_a_default_model(data, train_days) -> None:
    """The seed's get_lstm_enhanced_prediction passes the 30 features by name: a model reading the extra
    set too still answers (the extra ones it is not given count as missing)."""
    from kstock.ml.lstm.seed import get_lstm_enhanced_prediction

    model = _fit(data, train_days, n_estimators=10)
    assert model.feature_names == FEATURE_SETS["extra"]
    i, day = data.panel.index_of("005930"), len(data.dates) - 1
    features = dict(zip(FEATURE_NAMES, map(float, data.features.values[i, day]), strict=True))
    result = get_lstm_enhanced_prediction(features, model)
    assert result.members["trees"] is not None and 0.0 <= result.members["trees"]["score"] <= 1.0
