"""Which process of a ``torchrun`` job this is, and the hand-over at the end of a distributed training.

Under ``torchrun --nproc_per_node=N -m kstock train sector`` every rank runs the same command. Only rank 0
may validate, promote and write the registry (two writers would each add a version and race on
``CURRENT``); the other ranks train in lockstep with it, then wait at a barrier until rank 0 has promoted
(or kept) the model, and exit 0. Models without a distributed path are trained by rank 0 alone.

This module imports no torch: :func:`finish` touches ``torch.distributed`` only when a trainer already
started a process group.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)


def world_rank() -> tuple[int, int]:
    """(world size, rank) from the torchrun environment; (1, 0) when not distributed."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """False on the non-zero ranks of a ``torchrun`` job: only rank 0 saves models and prints results."""
    return world_rank()[1] == 0


def finish() -> None:
    """End a distributed training on this rank: wait until every rank is here, then leave the process group.

    Rank 0 calls it once the registry is written (promoted, kept or failed), the other ranks right after
    their ``fit``, so they exit only after rank 0's version is in place. A no-op outside a process group.
    """
    dist = _process_group()
    if dist is None:
        return
    try:
        dist.barrier()
    except Exception as exc:  # a rank that died already: nothing left to wait for
        log.warning("distributed barrier failed: %s", exc)
    finally:
        dist.destroy_process_group()


def _process_group() -> Any:
    """``torch.distributed`` when torch is loaded and a trainer started a process group, else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = torch.distributed
    return dist if dist.is_available() and dist.is_initialized() else None
