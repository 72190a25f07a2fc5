"""Models: trees, attention LSTM, sector-aware CNN-transformer, the ensemble, the registry and evaluation."""
