"""Tree predictor: LightGBM + XGBoost on the daily features, with two outputs (DESIGN §3).

- ``probability`` = P(5-day return > +3 %), the seed's target and what a user reads as 상승 확률.
  On real KRX data it mostly measures volatility (good AUC, near-zero Rank IC).
- ``score`` = the expected daily cross-sectional rank of the 5-day forward return, in [0, 1]. This is
  what ranks stocks, orders ``/signals`` and drives the BUY / HOLD / SELL call. By default it reads the
  seed's 30 features and the extra ones (:mod:`kstock.features.extra`) and learns the return from the
  next day's close — what a subscriber acting on the push can capture (:class:`TreeParams`).

Each output averages a LightGBM and an XGBoost model; the score averages ``score_seeds`` such pairs
trained with different seeds (:func:`score_keys`). Models are saved in each library's own format
(LightGBM text, XGBoost UBJSON), never pickle. SHAP reasons come from the boosters' built-in TreeSHAP
(``pred_contrib``), which is exact for trees and needs no extra explainer object.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.ml.base import MemberOutput
from kstock.ml.data import ModelData
from kstock.ml.trees.objectives import RankObjective, rank_target, score_from_raw
from kstock.ml.trees.params import FEATURE_SETS, SEED_TRAINING, TreeParams, load_tuned_params, strided_days


class TreePredictor:
    """LightGBM + XGBoost, each with a classifier (probability) and a rank regressor (score)."""

    name = "trees"
    #: Days of features one prediction reads (the serving window is sized from it): day t's alone.
    history_days = 1

    def __init__(self, params: TreeParams | None = None, seed: int = 0, n_jobs: int = 2,
                 probability: bool = True) -> None:
        self.params = params or TreeParams()
        self.seed = seed
        self.n_jobs = n_jobs
        #: False trains the score models only (half the time) for evaluations that read only the ranking;
        #: such a model answers NaN probabilities and is not for serving.
        self.probability = probability
        self.boosters: dict[str, Any] = {}
        self.label_cuts: tuple[float, float] = (0.4, 0.6)
        #: per ranking booster, (mean, std) of its raw output on the training rows (see score_from_raw)
        self.score_scale: dict[str, tuple[float, float]] = {}

    def record_twin(self) -> TreePredictor:
        """A cheaper copy for the walk-forward behind the served band table (:mod:`kstock.ml.evaluation.record`):
        the same parameters with one seed pair and no probability model — a quarter of the boosters. Three
        pairs rank a little better (issue 16), so the record it measures is, if anything, conservative."""
        return TreePredictor(replace(self.params, score_seeds=1), seed=self.seed, n_jobs=self.n_jobs, probability=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURE_SETS[self.params.feature_set]

    def feature_rows(self, data: ModelData, tickers: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The feature rows of (ticker, day) index pairs, in this model's feature set."""
        x = data.features.values[tickers, days]
        if self.params.feature_set == "extra":
            x = np.concatenate([x, data.extra_features().values[tickers, days]], axis=1)
        return x

    def day_rows(self, data: ModelData, day: int) -> np.ndarray:
        """Every ticker's feature row on one day (N, F): what the SHAP reasons of that day read."""
        n = len(data.panel.codes)
        return self.feature_rows(data, np.arange(n), np.full(n, day))

    # -- training -----------------------------------------------------------------------------
    def fit(self, data: ModelData, train_days: np.ndarray) -> dict[str, float]:
        """Fit all four boosters on the samples of ``train_days`` (a bool mask over data.dates)."""
        target = rank_target(data.labels, self.params.label)
        if self.params.label == "tradeable" and train_days.any():
            # its label ends a day later: drop the last day so no label reaches past the embargo
            train_days = train_days.copy()
            train_days[np.flatnonzero(train_days)[-1]] = False
        mask = data.sample_mask(strided_days(train_days, self.params.day_stride)) & np.isfinite(target)
        # rows day by day (a ranking objective needs each day's group contiguous), else ticker by ticker
        if self.params.objective == "ranking":
            di, ti = np.nonzero(mask.T)
        else:
            ti, di = np.nonzero(mask)
        if len(ti) < 200:
            from kstock.errors import KstockError

            raise KstockError(f"too few training samples ({len(ti)}); import more history")
        x = self.feature_rows(data, ti, di)
        y_up, y_rank = data.labels.up[ti, di], target[ti, di]
        ranking = RankObjective(di) if self.params.objective == "ranking" else None
        from kstock.ml.progress_bars import round_bar

        n_boosters = (2 if self.probability else 0) + 2 * self.params.score_seeds
        with round_bar(n_boosters * self.params.n_estimators, f"trees 학습 (부스터 {n_boosters}개)") as bar:
            self.boosters = {**self._fit_lgb(x, y_up, y_rank, bar, ranking),
                             **self._fit_xgb(x, y_up, y_rank, bar, ranking)}
        if ranking is not None:
            self.score_scale = RankObjective.scales(self._raw_scores(x))
        recent = train_days & (np.cumsum(train_days) > train_days.sum() - 60)
        scores = self.predict_days(data, np.flatnonzero(recent)).score
        finite = scores[np.isfinite(scores)]
        if finite.size:
            self.label_cuts = (float(np.quantile(finite, 0.1)), float(np.quantile(finite, 0.9)))
        return {"train_samples": float(len(x)), "train_positive_rate": float(np.mean(y_up))}

    def _fit_lgb(self, x: np.ndarray, y_up: np.ndarray, y_rank: np.ndarray, bar: Any = None,
                 ranking: RankObjective | None = None) -> dict[str, Any]:
        """Both LightGBM boosters on one binned Dataset: binning 1M rows costs seconds, so do it once."""
        import lightgbm as lgb

        from kstock.ml.progress_bars import lgb_callback

        callbacks = [lgb_callback(bar)] if bar is not None and not bar.disable else None

        p = self.params
        params = {
            "learning_rate": p.learning_rate, "num_leaves": p.num_leaves,
            "min_child_samples": p.min_child_samples, "bagging_fraction": p.subsample, "bagging_freq": 1,
            "feature_fraction": p.colsample, "lambda_l2": p.reg_lambda, "max_bin": p.max_bin,
            "num_threads": self.n_jobs, "seed": self.seed, "verbosity": -1, "deterministic": True,
            "force_col_wise": True,
        }
        dataset = lgb.Dataset(x, label=y_up, feature_name=list(self.feature_names), free_raw_data=False,
                              params={"max_bin": p.max_bin, "verbosity": -1})
        out = {}
        if self.probability:
            out["lgb_up"] = lgb.train({**params, "objective": "binary"}, dataset, num_boost_round=p.n_estimators,
                                      callbacks=callbacks)
        if ranking is None:
            dataset.set_label(y_rank)
            rank_params = {**params, "objective": "regression"}
        else:
            dataset.set_label(ranking.grades(y_rank))
            dataset.set_group(ranking.groups)
            rank_params = {**params, **ranking.lgb_params()}
        for i, key in enumerate(score_keys("lgb", p.score_seeds)):
            out[key] = lgb.train({**rank_params, "seed": self.seed + i}, dataset, num_boost_round=p.n_estimators,
                                 callbacks=callbacks)
        return out

    def _fit_xgb(self, x: np.ndarray, y_up: np.ndarray, y_rank: np.ndarray, bar: Any = None,
                 ranking: RankObjective | None = None) -> dict[str, Any]:
        """Both XGBoost boosters on one quantised matrix (same reason as :meth:`_fit_lgb`)."""
        import xgboost as xgb

        from kstock.ml.progress_bars import xgb_callback

        callbacks = [xgb_callback(bar)] if bar is not None and not bar.disable else None

        p = self.params
        params = {
            "eta": p.learning_rate, "max_depth": p.max_depth,
            "min_child_weight": max(1.0, p.min_child_samples / 20), "subsample": p.subsample,
            "colsample_bytree": p.colsample, "lambda": p.reg_lambda, "max_bin": p.max_bin,
            "tree_method": "hist", "nthread": self.n_jobs, "seed": self.seed, "verbosity": 0,
        }
        matrix = xgb.QuantileDMatrix(x, label=y_up, feature_names=list(self.feature_names), max_bin=p.max_bin,
                                     qid=None if ranking is None else ranking.qid)
        out = {}
        if self.probability:
            out["xgb_up"] = xgb.train({**params, "objective": "binary:logistic"}, matrix,
                                      num_boost_round=p.n_estimators, callbacks=callbacks)
        if ranking is None:
            matrix.set_label(y_rank)
            rank_params = {**params, "objective": "reg:squarederror"}
        else:
            matrix.set_label(ranking.grades(y_rank))
            rank_params = {**params, **ranking.xgb_params()}
        for i, key in enumerate(score_keys("xgb", p.score_seeds)):
            out[key] = xgb.train({**rank_params, "seed": self.seed + i}, matrix, num_boost_round=p.n_estimators,
                                 callbacks=callbacks)
        return out

    # -- inference ------------------------------------------------------------------------------
    def predict_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability, score) for rows of features."""
        import xgboost as xgb

        if not self.boosters:
            raise RuntimeError("TreePredictor is not fitted")
        matrix = xgb.DMatrix(x, feature_names=list(self.feature_names))
        if "lgb_up" in self.boosters:
            prob = 0.5 * (self.boosters["lgb_up"].predict(x) + self.boosters["xgb_up"].predict(matrix))
        else:  # a score-only (evaluation) model
            prob = np.full(len(x), np.nan)
        return prob, score_from_raw(self._raw_scores(x, matrix), self.score_scale)

    def _raw_scores(self, x: np.ndarray, matrix: Any = None) -> dict[str, np.ndarray]:
        """Each library's score boosters' mean raw output (``lgb_rank``, ``xgb_rank``) for rows of features."""
        import xgboost as xgb

        if matrix is None:
            matrix = xgb.DMatrix(x, feature_names=list(self.feature_names))
        n = self.params.score_seeds
        return {"lgb_rank": np.mean([self.boosters[k].predict(x) for k in score_keys("lgb", n)], axis=0),
                "xgb_rank": np.mean([self.boosters[k].predict(matrix) for k in score_keys("xgb", n)], axis=0)}

    def predict_days(self, data: ModelData, days: np.ndarray) -> MemberOutput:
        """Outputs for every ticker on the given day indices; NaN where a ticker cannot be scored."""
        day_mask = np.zeros(len(data.dates), dtype=bool)
        day_mask[days] = True
        ok = data.sample_mask(day_mask, need_label=False)[:, days]
        prob = np.full(ok.shape, np.nan)
        score = np.full(ok.shape, np.nan)
        if ok.any():
            ti, tj = np.nonzero(ok)
            prob[ok], score[ok] = self.predict_matrix(self.feature_rows(data, ti, np.asarray(days)[tj]))
        return MemberOutput(probability=prob, score=score)

    def contributions(self, x_row: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions of each feature to the score (the LightGBM score models' mean; bias dropped)."""
        return self.contributions_matrix(x_row.reshape(1, -1))[0]

    def contributions_matrix(self, x: np.ndarray) -> np.ndarray:
        """:meth:`contributions` of many rows (N, F) in one call — a whole day's, computed once and looked up
        per /analyze instead of one LightGBM call per request. SHAP values add up, so the mean of the seeds'
        contributions is the contribution to their mean output."""
        rows = np.asarray(x).reshape(len(x), -1)
        keys = score_keys("lgb", self.params.score_seeds)
        return np.mean([self.boosters[k].predict(rows, pred_contrib=True)[:, :-1] for k in keys], axis=0)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        files = {}
        for key, booster in self.boosters.items():
            path = folder / (f"{key}.txt" if key.startswith("lgb") else f"{key}.ubj")
            booster.save_model(str(path))
            files[path.name] = _sha256(path)
        (folder / "predictor.json").write_text(json.dumps(
            {"params": asdict(self.params), "seed": self.seed, "label_cuts": self.label_cuts,
             "features": list(self.feature_names), "score_scale": self.score_scale, "files": files}, indent=2))

    @classmethod
    def create(cls, settings: Settings, **options: Any) -> TreePredictor:
        """A fresh model with the tuned parameters of ``<model_dir>/tuned/trees.json`` unless ``params`` is
        given (none tuned: the defaults); the other options are the constructor's."""
        if "params" not in options:
            options["params"] = load_tuned_params(settings.model_dir)  # None → defaults
        return cls(**options)

    @classmethod
    def load(cls, folder: Path, settings: Settings | None = None) -> TreePredictor:
        """Load from a registry folder; raises on a missing/corrupt file (the caller marks it unavailable).
        Trees run on the CPU whatever the settings say."""
        import lightgbm as lgb
        import xgboost as xgb

        info = json.loads((folder / "predictor.json").read_text())
        # a model saved before these options existed was trained the seed's way, whatever the defaults now are
        params = TreeParams.from_dict({**SEED_TRAINING, **info["params"]})
        if list(info["features"]) != list(FEATURE_SETS[params.feature_set]):
            raise ValueError("model was trained on a different feature list; retrain it")
        # both libraries can segfault on a truncated or damaged file instead of raising: check first
        for name, digest in info.get("files", {}).items():
            if _sha256(folder / name) != digest:
                raise ValueError(f"{name} is corrupt (checksum mismatch)")
        model = cls(params, seed=info["seed"])
        model.label_cuts = tuple(info["label_cuts"])
        model.score_scale = {k: (float(m), float(sd)) for k, (m, sd) in info.get("score_scale", {}).items()}
        for key in ("lgb_up", *score_keys("lgb", params.score_seeds)):
            text = (folder / f"{key}.txt").read_text()
            if "end of parameters" not in text[-4096:]:  # LightGBM segfaults on a truncated file
                raise ValueError(f"{key}.txt is truncated")
            model.boosters[key] = lgb.Booster(model_str=text)
        for key in ("xgb_up", *score_keys("xgb", params.score_seeds)):
            booster = xgb.Booster()
            booster.load_model(str(folder / f"{key}.ubj"))
            model.boosters[key] = booster
        return model


def score_keys(library: str, seeds: int) -> list[str]:
    """The booster names of one library's score models: ``lgb_rank`` (the first seed, as before bagging),
    then ``lgb_rank_1`` …"""
    return [f"{library}_rank" + (f"_{i}" if i else "") for i in range(seeds)]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
