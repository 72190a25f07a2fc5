"""The attention LSTM, split by concern:

* ``data``      — ``LSTMParams``, 20-day windows, the train/validation split by date, scaling (numpy only);
* ``net``       — ``StockLSTM``, training with early stopping, checkpoints (torch; imported lazily);
* ``predictor`` — ``LSTMPredictor``, the ``"lstm"`` kind (fit / predict_days / save / load), one window's inference;
* ``seed``      — the seed sketch's array API (``train_lstm``, ``predict_lstm``, …), built on the predictor.

Nothing here imports torch at import time. The seed's names also stay importable from
:mod:`kstock.ml.lstm_predictor`.
"""

from kstock.ml.lstm.data import SEQUENCE_LENGTH, LSTMParams
from kstock.ml.lstm.predictor import LSTMPredictor

__all__ = ["SEQUENCE_LENGTH", "LSTMParams", "LSTMPredictor"]
