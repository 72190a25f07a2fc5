"""The tree model (LightGBM + XGBoost), split by concern:

* ``params``     — ``TreeParams``, the feature sets and training options, the tuned-parameter file;
* ``objectives`` — the score model's targets (rank regression, pairwise ranking) and raw-score scaling;
* ``predictor``  — ``TreePredictor``, the ``"trees"`` kind (fit / predict_days / SHAP / save / load);
* ``tuning``     — the Optuna study over walk-forward folds inside the training period (``kstock tune trees``).
"""

from kstock.ml.trees.params import FEATURE_SETS, TreeParams
from kstock.ml.trees.predictor import TreePredictor

__all__ = ["FEATURE_SETS", "TreeParams", "TreePredictor"]
