"""Running the sector model: devices, the torchrun environment, batched inference and validation metrics."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from kstock.ml.distributed import world_rank
from kstock.ml.evaluation.metrics import multiclass_metrics
from kstock.ml.sector.config import SectorConfig
from kstock.ml.sector.model import COMMON_HEAD, FocalLoss
from kstock.ml.sector.windows import WindowSource


def is_oom(exc: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom_type is not None and isinstance(exc, oom_type)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def resolve_device(config: SectorConfig, use_gpu: bool = True) -> torch.device:
    if config.device != "auto":
        return torch.device(config.device)
    if dist_info()[0] > 1 and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")


def dist_info() -> tuple[int, int]:
    """(world size, rank) from the torchrun environment (1, 0 when not distributed)."""
    return world_rank()


def to_tensors(source: WindowSource, tickers: np.ndarray, days: np.ndarray,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ts, img, sid = source.batch(tickers, days)
    return (torch.from_numpy(ts).to(device), torch.from_numpy(img).to(device), torch.from_numpy(sid).to(device))


@torch.no_grad()
def infer(model: nn.Module, source: WindowSource, tickers: np.ndarray, days: np.ndarray, batch_size: int,
          device: torch.device, phase: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class probabilities (n, 3), logits (n, 3) and the head used (n,) for the samples, in batches.

    Inference defaults to phase 2 routing: the sector heads (phases 2 and 3 route the same way).
    """
    was_training = model.training
    model.eval()
    n = len(tickers)
    probs, logits = np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32)
    heads = np.full(n, COMMON_HEAD, np.int64)
    i = 0
    while i < n:
        j = min(n, i + batch_size)
        try:
            out = model(*to_tensors(source, tickers[i:j], days[i:j], device), phase=phase)
        except (RuntimeError, MemoryError) as exc:
            if not is_oom(exc) or batch_size == 1:
                raise
            batch_size //= 2
            empty_cache(device)
            continue
        lg = out["logits"].float()
        logits[i:j], probs[i:j] = lg.cpu().numpy(), torch.softmax(lg, dim=1).cpu().numpy()
        heads[i:j] = out["head"].cpu().numpy()
        i = j
    model.train(was_training)
    return probs, logits, heads


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def evaluate_samples(model: nn.Module, source: WindowSource, tickers: np.ndarray, days: np.ndarray,
                     loss_fn: FocalLoss, batch_size: int, device: torch.device, phase: int = 2,
                     decision: Any = None) -> dict[str, Any]:
    """Validation metrics of ``model`` on the samples, routed as ``phase`` routes; with a ``decision``
    (:class:`~kstock.ml.sector.decision.ClassDecision`) also the accuracy of the call it makes."""
    probs, logits, heads = infer(model, source, tickers, days, batch_size, device, phase)
    y = source.labels(tickers, days)
    with torch.no_grad():
        loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(y)))
    out = multiclass_metrics(probs.argmax(axis=1), y)
    if decision is not None:  # the call an analysis shows, judged on these samples
        judged = decision.judged(probs, y)
        out["decision_accuracy"], out["decision_call_share"] = judged.accuracy, judged.call_share
    out["loss"] = loss
    out["sector_head_share"] = float(np.mean(heads != COMMON_HEAD)) if len(heads) else float("nan")
    out["head_counts"] = {str(int(h)): int(c) for h, c in zip(*np.unique(heads, return_counts=True), strict=True)}
    return out
