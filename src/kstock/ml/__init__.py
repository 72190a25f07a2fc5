"""Models: trees, attention LSTM, sector-aware CNN-transformer, the ensemble, the registry and evaluation."""

import os

# OpenMP threads that spin while waiting make torch (and LightGBM) 5-10x slower whenever another process
# shares the cores; passive waiting costs next to nothing on an idle machine. It only takes effect if set
# before the OpenMP runtime loads (first torch/lightgbm import), so kstock sets it as early as it can:
# here, before any model module (the model kinds are imported lazily, torch and lightgbm inside them).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
