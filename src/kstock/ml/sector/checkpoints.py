"""Trainer checkpoints: file names, RNG states, and loading with ``torch.load(weights_only=True)``.

Everything stored is a tensor or a plain Python value (numpy's RNG state is turned into lists), so a
checkpoint never needs pickle to load.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kstock.errors import KstockError

CHECKPOINT_FORMAT = 1
_CKPT = re.compile(r"^phase([123])_(?:epoch(\d+)|(final))\.pt$")


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(_as_tuples(state["python"]))


def _as_tuples(x: Any) -> Any:
    return tuple(_as_tuples(v) for v in x) if isinstance(x, list | tuple) else x


def list_checkpoints(folder: Path) -> list[tuple[int, float, Path]]:
    """(phase, epoch, path), oldest first; a phase's final sorts after its epochs."""
    out = []
    for path in Path(folder).glob("phase*.pt"):
        m = _CKPT.match(path.name)
        if m:
            out.append((int(m.group(1)), math.inf if m.group(3) else int(m.group(2)), path))
    return sorted(out)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # any unreadable file is the same problem to the user
        raise KstockError(f"cannot read sector checkpoint {path}: {exc}") from exc
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise KstockError(f"{path} is not a kstock sector-model checkpoint")
    return ck


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
