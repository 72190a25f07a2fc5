"""The seed sketch's module name, kept for its callers: its public names, now implemented in :mod:`kstock.ml.lstm`.

``StockLSTM`` needs torch, so it is resolved on first access (``import kstock.ml.lstm_predictor`` works
without torch); ``ensemble_3model_predict`` combines by the product's ensemble rule
(:func:`kstock.ml.ensemble.combine`). New code imports from :mod:`kstock.ml.lstm` directly.
"""

from __future__ import annotations

from typing import Any

from kstock.ml.base import TORCH_MISSING, torch_available
from kstock.ml.lstm.data import LSTMTrainResult, build_sequences
from kstock.ml.lstm.seed import (
    ensemble_3model_predict,
    get_lstm_enhanced_prediction,
    load_lstm_model,
    predict_lstm,
    save_lstm_model,
    train_lstm,
)

# ``StockLSTM`` is served by the module ``__getattr__`` (it needs torch), so it is not in ``__all__``
__all__ = ["LSTMTrainResult", "build_sequences", "ensemble_3model_predict", "get_lstm_enhanced_prediction",
           "load_lstm_model", "predict_lstm", "save_lstm_model", "train_lstm"]


def __getattr__(name: str) -> Any:
    """``StockLSTM`` is an ``nn.Module`` subclass: imported from :mod:`kstock.ml.lstm.net` on first use."""
    if name == "StockLSTM":
        if not torch_available():
            raise ImportError(f"StockLSTM needs torch: {TORCH_MISSING}")
        from kstock.ml.lstm.net import StockLSTM

        return StockLSTM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
