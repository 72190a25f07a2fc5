"""One rank of the two-rank CPU retrain test (``python -m torch.distributed.run --nproc_per_node=2 …``).

Trains the sector model on the store and model folder named by KSTOCK_DB / KSTOCK_MODEL_DIR with a tiny
configuration, through the same ``retrain`` the CLI calls, and prints the rank's result as one JSON line.
"""

from __future__ import annotations

import json
import os

from kstock.config import Settings
from kstock.service.context import Services
from kstock.service.retrain import retrain

#: Small enough for two CPU ranks on a busy machine: one epoch of phase 1, 16-pixel charts, a thin backbone.
TINY_SECTOR = {"phase": "1", "epochs": 1, "samples_per_epoch": 256, "val_max_samples": 128, "img_size": 16,
               "d_model": 16, "n_layers": 1, "batch_size": 64, "threads": 1, "device": "cpu"}


def main() -> None:
    services = Services(Settings.from_env(dict(os.environ), dotenv=None))
    result = retrain(services, "sector", **TINY_SECTOR)
    print(json.dumps({"rank": int(os.environ["RANK"]), "status": result.status, "version": result.version}),
          flush=True)
    services.close()


if __name__ == "__main__":
    main()
