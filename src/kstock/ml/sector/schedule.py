"""The sector model's training schedule: which phases a run trains, and the learning rate through a phase.

Kept apart from :mod:`.trainer` (the loop, distribution, checkpoints) because both are pure bookkeeping that
the trainer and its checkpoints share: the scheduler's state is saved and restored with every epoch.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kstock.errors import KstockError


class WarmupCosine:
    """Learning rate by training progress in samples: linear warm-up, then cosine decay to 5 %.

    Counting samples rather than batches keeps the schedule right when the batch size halves."""

    def __init__(self, optimizer: torch.optim.Optimizer, total: int, warmup_frac: float) -> None:
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.total = max(1, int(total))
        self.warmup = max(1, int(total * warmup_frac))
        self.seen = 0
        self._apply()

    def factor(self) -> float:
        if self.seen < self.warmup:
            return (self.seen + 1) / self.warmup
        progress = min(1.0, (self.seen - self.warmup) / max(1, self.total - self.warmup))
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self, samples: int) -> None:
        self.seen += int(samples)
        self._apply()

    def _apply(self) -> None:
        f = self.factor()
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * f

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "total": self.total, "warmup": self.warmup, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen, self.total, self.warmup = int(state["seen"]), int(state["total"]), int(state["warmup"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self._apply()


def parse_phases(phases: str | int | tuple[int, ...]) -> tuple[int, ...]:
    """``"all"``, one phase or a tuple of phases → the sorted phases to run; a clear error for anything else."""
    if isinstance(phases, tuple | list):
        out = tuple(int(p) for p in phases)
    elif str(phases).strip().lower() == "all":
        out = (1, 2, 3)
    else:
        out = (int(phases),)
    if not out or any(p not in (1, 2, 3) for p in out) or list(out) != sorted(set(out)):
        raise KstockError(f"phase must be 1, 2, 3 or all, got {phases!r}")
    return out
