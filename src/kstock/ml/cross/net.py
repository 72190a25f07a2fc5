"""The torch half of the cross-sectional model: the network, its training loop and a day's inference.

Each day is a *set* of stocks: a token per stock (its scaled features plus its sector's embedding), two
transformer layers over the day's tokens — every stock attends to the others of the same day, its sector
peers and the whole market — and two heads: the daily rank it learns (score; loss: ``1 −`` the per-day
Pearson correlation plus an MSE that keeps it rank-like) and P(5-day return > target) (BCE).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from kstock.ml.cross.data import CrossParams
from kstock.ml.lstm.ranking import day_corr_loss

#: (x (B, n, F), sector (B, n), pad (B, n) True = no stock, up (B, n), rank (B, n)) for a list of days
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class CrossSectionNet(nn.Module):
    """Tokens = stocks of one day; ``forward(x, sector, pad) -> (up_logit, score)``, each (B, n)."""

    def __init__(self, n_inputs: int, n_sectors: int, d_model: int = 32, heads: int = 4, layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.config = {"n_inputs": n_inputs, "n_sectors": n_sectors, "d_model": d_model, "heads": heads,
                       "layers": layers, "dropout": dropout}
        self.embed = nn.Sequential(nn.Linear(n_inputs, d_model), nn.GELU(), nn.Linear(d_model, d_model))
        self.sector = nn.Embedding(n_sectors, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.own = nn.Linear(d_model, 2)  # what the stock's own row says
        self.peers = nn.Linear(d_model, 2)  # what it says among its peers
        nn.init.constant_(self.own.bias, 0.0)

    def forward(self, x: torch.Tensor, sector: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(x) + self.sector(sector)
        out = self.own(h) + self.peers(self.encoder(h, src_key_padding_mask=pad))
        return out[..., 0], out[..., 1]


@dataclass
class CrossTrainResult:
    val_rank_ic: float
    epochs_trained: int
    best_epoch: int
    stopped_reason: str
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {"val_rank_ic": self.val_rank_ic, "epochs_trained": float(self.epochs_trained),
                "best_epoch": float(self.best_epoch), "train_seconds": self.seconds}


def fit_network(net: CrossSectionNet, fit_days: np.ndarray, batch_of: Callable[[np.ndarray], Batch],
                val_ic: Callable[[CrossSectionNet], float], p: CrossParams, seed: int,
                progress: Callable[[int, int, dict[str, float]], None] | None = None) -> CrossTrainResult:
    """Epochs over the fit days in random batches of ``days_per_batch`` days; after each, the validation Rank
    IC (``val_ic``); the best epoch's weights are kept (early stopping on ``patience``, a time budget)."""
    started, rng = time.perf_counter(), np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
    best, best_epoch, best_state, stale, stopped = -math.inf, 0, None, 0, "정해진 반복 횟수를 모두 마침"
    history: list[dict[str, float]] = []
    last_epoch_s = 0.0
    for epoch in range(1, p.max_epochs + 1):
        if p.time_budget_s and epoch > 1 and time.perf_counter() - started + last_epoch_s > p.time_budget_s:
            stopped = f"시간 예산 {p.time_budget_s:.0f}초에 닿아 {epoch - 1}번째 반복 뒤 멈춤"
            break
        epoch_start = time.perf_counter()
        loss_sum = _train_epoch(net, optimizer, rng.permutation(fit_days), batch_of, p.days_per_batch)
        ic = val_ic(net)
        history.append({"epoch": float(epoch), "train_loss": loss_sum, "val_rank_ic": ic})
        last_epoch_s = time.perf_counter() - epoch_start
        if progress is not None:
            progress(epoch, p.max_epochs, history[-1])
        if np.isfinite(ic) and ic > best:
            best, best_epoch, stale = ic, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if stale >= p.patience:
            stopped = f"조기 종료: 검증 순위 IC가 {p.patience}번 연속 나아지지 않아 멈춤"
            break
    if best_state is None:
        raise RuntimeError("the cross-sectional model produced no usable epoch (no finite validation Rank IC)")
    net.load_state_dict(best_state)
    net.eval()
    return CrossTrainResult(best, len(history), best_epoch, stopped, time.perf_counter() - started, history)


def _train_epoch(net: CrossSectionNet, optimizer: Any, order: np.ndarray, batch_of: Callable[[np.ndarray], Batch],
                 days_per_batch: int) -> float:
    net.train()
    total, batches = 0.0, 0
    for start in range(0, len(order), days_per_batch):
        x, sector, pad, up, rank = batch_of(order[start : start + days_per_batch])
        logit, score = net(x, sector, pad)
        keep = ~pad
        group = torch.arange(len(x)).unsqueeze(1).expand_as(pad)[keep]
        loss = (day_corr_loss(score[keep], rank[keep], group) + F.mse_loss(score[keep], rank[keep])
                + F.binary_cross_entropy_with_logits(logit[keep], up[keep]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        total, batches = total + float(loss.detach()), batches + 1
    return total / max(batches, 1)


def predict_day(net: CrossSectionNet, x: np.ndarray, sector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probability, score) for one day's stocks (n, F) and their sector tokens (n,)."""
    with torch.no_grad():
        logit, score = net(torch.from_numpy(x)[None], torch.from_numpy(sector)[None],
                           torch.zeros((1, len(x)), dtype=torch.bool))
    return torch.sigmoid(logit[0]).numpy().astype(float), score[0].numpy().astype(float)
