"""Terminal progress bars with an ETA for training: boosting rounds for the trees.

Shown on a terminal only (tqdm's ``disable=None`` rule, like the deep models' bars), so the bot, logs
and captured test output never get bar noise; the retrain service's text progress lines are separate.
"""

from __future__ import annotations

from typing import Any


def round_bar(total: int, desc: str) -> Any:
    """A tqdm bar over ``total`` boosting rounds (all boosters of one fit together, so the ETA is the fit's)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="회", leave=False, disable=None, dynamic_ncols=True)


def lgb_callback(bar: Any) -> Any:
    """A LightGBM callback advancing ``bar`` once per boosting round."""

    def advance(_env: Any) -> None:
        bar.update(1)

    advance.order = 100  # after LightGBM's own callbacks
    return advance


def xgb_callback(bar: Any) -> Any:
    """An XGBoost TrainingCallback advancing ``bar`` once per boosting round."""
    import xgboost as xgb

    class _Advance(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            bar.update(1)
            return False  # never stops training

    return _Advance()
