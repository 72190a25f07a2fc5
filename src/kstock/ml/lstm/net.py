"""The torch half of the attention LSTM: network, training loop, batched inference, checkpoints.

Imported only when torch is present (by :mod:`kstock.ml.lstm.predictor` and :mod:`kstock.ml.lstm.seed`,
lazily). Nothing here reads the store or the settings: it trains on a *source* that gathers raw windows
by sample index, scales them with the training scaler and hands the batch to the network, so the whole
(N, T, 20, 30) tensor is never built.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from kstock.ml.evaluation.metrics import binary_metrics
from kstock.ml.lstm.data import (
    FORMAT_VERSION,
    LSTMParams,
    LSTMTrainingError,
    LSTMTrainResult,
    ProgressCallback,
    gather_windows,
    scale_windows,
)
from kstock.ml.lstm.ranking import day_batches, day_corr_loss

RANK_VARIANCE = 1.0 / 12.0  # variance of a uniform rank in [0, 1]: the MSE a constant 0.5 scores


class StockLSTM(nn.Module):
    """2-layer LSTM over the days, attention pooling, two heads.

    ``forward(x, day_mask=None)`` with x (batch, seq_len, input_size) returns ``(up_logit, score,
    attention)``: the logit of P(5-day return > target) (batch,), the expected cross-sectional rank
    (batch,), and the attention weights over the days (batch, seq_len), summing to 1. ``day_mask``
    (batch, seq_len) bool marks days that had data; the others get zero attention.
    """

    def __init__(
        self,
        input_size: int = 30,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.2,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.config = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers,
                       "dropout": dropout, "bidirectional": bidirectional}
        self.lstm = nn.LSTM(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                            dropout=dropout if num_layers > 1 else 0.0, batch_first=True,
                            bidirectional=bidirectional)
        width = hidden_size * (2 if bidirectional else 1)
        self.attention = nn.Linear(width, 1)
        # the attention context plus the last day's state: attention decides which past days matter,
        # the last state keeps "where are we now" even when attention spreads out
        self.shared = nn.Sequential(nn.Linear(2 * width, 32), nn.ReLU(), nn.Dropout(dropout))
        self.up_head = nn.Linear(32, 1)
        self.rank_head = nn.Linear(32, 1)
        nn.init.constant_(self.rank_head.bias, 0.5)

    def forward(self, x: torch.Tensor, day_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        out, _ = self.lstm(x)  # (batch, seq_len, width)
        logits = self.attention(out).squeeze(-1)  # (batch, seq_len)
        if day_mask is not None:
            # a row with no present day (cannot happen for a scored sample) keeps plain softmax
            keep = day_mask | ~day_mask.any(dim=1, keepdim=True)
            logits = logits.masked_fill(~keep, float("-inf"))
        attn = torch.softmax(logits, dim=1)
        context = torch.sum(out * attn.unsqueeze(-1), dim=1)
        h = self.shared(torch.cat([context, out[:, -1]], dim=1))
        return self.up_head(h).squeeze(-1), self.rank_head(h).squeeze(-1), attn


# -- sample sources --------------------------------------------------------------------------
class _Source:
    up: np.ndarray | None
    rank: np.ndarray | None
    day: np.ndarray
    n_inputs: int

    def raw(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __init__(self, mean: np.ndarray | None, std: np.ndarray | None, indicator: bool, n_features: int) -> None:
        self.mean, self.std, self.indicator = mean, std, indicator
        self.n_inputs = n_features + int(indicator)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return scale_windows(self.raw(idx), self.mean, self.std, self.indicator)


class ArraySource(_Source):
    """Materialised raw windows X (n, L, F) (the seed's array API)."""

    def __init__(self, x: np.ndarray, up: np.ndarray | None, rank: np.ndarray | None, day: np.ndarray,
                 mean: np.ndarray | None, std: np.ndarray | None, indicator: bool) -> None:
        super().__init__(mean, std, indicator, x.shape[2])
        self.x, self.up, self.rank, self.day = x, up, rank, np.asarray(day)

    def raw(self, idx: np.ndarray) -> np.ndarray:
        return self.x[idx]


class PanelSource(_Source):
    """(ticker, day) samples of a (N, T, F) feature cube; windows are gathered per batch."""

    def __init__(self, values: np.ndarray, tickers: np.ndarray, days: np.ndarray, up: np.ndarray | None,
                 rank: np.ndarray | None, mean: np.ndarray | None, std: np.ndarray | None, indicator: bool,
                 seq_len: int) -> None:
        super().__init__(mean, std, indicator, values.shape[2])
        self.values, self.tickers, self.day = values, np.asarray(tickers), np.asarray(days)
        self.up, self.rank, self.seq_len = up, rank, seq_len

    def raw(self, idx: np.ndarray) -> np.ndarray:
        return gather_windows(self.values, self.tickers[idx], self.day[idx], self.seq_len)


# -- training ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_settings(n_threads: int, deterministic: bool = True) -> Iterator[None]:
    """Thread count and deterministic algorithms for the duration of a fit/predict; restored after."""
    threads = torch.get_num_threads()
    det, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(max(1, min(n_threads, os.cpu_count() or 1)))
    # the first use_deterministic_algorithms call imports torch._dynamo/_inductor (~2 s on 2 cores): only
    # when the setting changes, so inference (deterministic=False) never pays it — a cold `analyze` did
    toggle = deterministic and (not det or not warn)
    if toggle:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if toggle:
            torch.use_deterministic_algorithms(det, warn_only=warn)


def _loss(up_logit: torch.Tensor, score: torch.Tensor, up: torch.Tensor, rank: torch.Tensor | None,
          rank_weight: float) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(up_logit, up)
    if rank is not None and rank_weight > 0:
        loss = loss + rank_weight * F.mse_loss(score, rank) / RANK_VARIANCE
    return loss


def _epoch_batches(source: _Source, train_idx: np.ndarray, per_epoch: int, p: LSTMParams,
                   rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """One epoch's batches: random samples (group None), or whole day groups for the correlation loss."""
    if p.corr_weight > 0:
        yield from day_batches(train_idx, source.day, per_epoch, p.batch_size, p.names_per_day, rng)
        return
    idx = rng.permutation(train_idx) if per_epoch == len(train_idx) else rng.choice(
        train_idx, per_epoch, replace=False)
    for start in range(0, len(idx), p.batch_size):
        yield idx[start : start + p.batch_size], None


def _tensors(source: _Source, idx: np.ndarray, device: str) -> tuple[torch.Tensor, ...]:
    x, present = source.batch(idx)
    up = torch.from_numpy(source.up[idx].astype(np.float32)).to(device) if source.up is not None else None
    rank = torch.from_numpy(source.rank[idx].astype(np.float32)).to(device) if source.rank is not None else None
    return torch.from_numpy(x).to(device), torch.from_numpy(present).to(device), up, rank


def _evaluate(model: StockLSTM, source: _Source, idx: np.ndarray, p: LSTMParams,
              device: str) -> tuple[float, np.ndarray, np.ndarray]:
    """(mean loss, probability, score) over ``idx`` in eval mode."""
    model.eval()
    total, probs, scores = 0.0, [], []
    with torch.no_grad():
        for start in range(0, len(idx), p.eval_batch_size):
            bi = idx[start : start + p.eval_batch_size]
            x, present, up, rank = _tensors(source, bi, device)
            logit, score, _ = model(x, present)
            total += float(_loss(logit, score, up, rank, p.rank_weight)) * len(bi)
            probs.append(torch.sigmoid(logit).cpu().numpy())
            scores.append(score.cpu().numpy())
    return total / max(len(idx), 1), np.concatenate(probs), np.concatenate(scores)


def daily_rank_ic(score: np.ndarray, target: np.ndarray, day: np.ndarray, min_names: int = 5) -> float:
    """Mean over days of the Spearman correlation between score and target within each day."""
    frame = pd.DataFrame({"d": day, "s": score, "y": target}).dropna()
    if frame.empty:
        return float("nan")
    grouped = frame.groupby("d")
    frame["rs"], frame["ry"] = grouped["s"].rank(), grouped["y"].rank()
    counts = grouped["s"].transform("size")
    frame = frame[counts >= min_names]
    if frame.empty:
        return float("nan")
    ics = frame.groupby("d")[["rs", "ry"]].corr().xs("rs", level=1)["ry"]
    ics = ics.replace([np.inf, -np.inf], np.nan).dropna()
    return float(ics.mean()) if len(ics) else float("nan")


def fit_network(
    source: _Source,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    p: LSTMParams,
    seed: int = 0,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    progress_bar: bool | None = None,
) -> tuple[StockLSTM, LSTMTrainResult, tuple[np.ndarray, np.ndarray]]:
    """Train with early stopping; returns (model at its best epoch, result, (val prob, val score) of it).

    Seeded: the same seed, data and device give the same weights. The global torch RNG state is
    forked, so training does not disturb the caller's random state.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    fork_devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with _torch_settings(p.n_threads), torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = StockLSTM(source.n_inputs, p.hidden_size, p.num_layers, p.dropout).to(device)
        if source.up is not None:
            base = float(np.clip(np.mean(source.up[train_idx]), 1e-3, 1 - 1e-3))
            nn.init.constant_(model.up_head.bias, math.log(base / (1 - base)))
        optimizer = torch.optim.AdamW(model.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
        history: list[dict[str, float]] = []
        best_loss, best_epoch, best_state = float("inf"), 0, None
        best_val: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        stale, stopped = 0, ""
        last_epoch_s = 0.0
        per_epoch = len(train_idx) if not p.samples_per_epoch else min(p.samples_per_epoch, len(train_idx))
        # progress_bar None = show it on a terminal only (tqdm's own rule), False = never
        # one bar over every batch of every epoch, so its ETA is the training's (early stopping ends it sooner)
        batches = -(-per_epoch // p.batch_size)
        bar = tqdm(total=p.max_epochs * batches, desc=f"lstm 학습 (최대 {p.max_epochs}회 반복 × {batches}배치)",
                   unit="배치", leave=False, disable=None if progress_bar is None else not progress_bar)
        try:
            for epoch in range(1, p.max_epochs + 1):
                elapsed = time.perf_counter() - started
                if p.time_budget_s and epoch > 1 and elapsed + last_epoch_s > p.time_budget_s:
                    stopped = f"시간 예산 {p.time_budget_s:.0f}초에 닿아 {epoch - 1}번째 반복 뒤 멈춤"
                    break
                epoch_start = time.perf_counter()
                model.train()
                total, seen, finite = 0.0, 0, True
                for bi, group in _epoch_batches(source, train_idx, per_epoch, p, rng):
                    x, present, up, rank = _tensors(source, bi, device)
                    logit, score, _ = model(x, present)
                    loss = _loss(logit, score, up, rank, p.rank_weight)
                    if group is not None and rank is not None:
                        loss = loss + p.corr_weight * day_corr_loss(score, rank, torch.from_numpy(group).to(device))
                    if not torch.isfinite(loss):
                        finite = False
                        break
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
                    optimizer.step()
                    total += float(loss.detach()) * len(bi)
                    seen += len(bi)
                    bar.update(1)
                if not finite:
                    if best_state is None:
                        raise LSTMTrainingError(f"the LSTM's training loss became non-finite in epoch {epoch}")
                    stopped = f"{epoch}번째 반복에서 학습 손실이 숫자가 아니게 되어 멈춤"
                    break
                val_loss, val_prob, val_score = _evaluate(model, source, val_idx, p, device)
                metrics = {"epoch": float(epoch), "train_loss": total / max(seen, 1), "val_loss": val_loss,
                           "val_auc": _auc(val_prob, source, val_idx),
                           "val_rank_ic": _rank_ic(val_score, source, val_idx)}
                history.append(metrics)
                last_epoch_s = time.perf_counter() - epoch_start
                criterion = -metrics["val_rank_ic"] if p.corr_weight > 0 else val_loss  # what it learns to do
                if criterion < best_loss:
                    best_loss, best_epoch, stale = criterion, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    best_val = (val_prob, val_score)
                else:
                    stale += 1
                if not bar.disable:
                    bar.set_postfix(epoch=epoch, loss=f"{metrics['train_loss']:.4f}", val=f"{val_loss:.4f}",
                                    ic=f"{metrics['val_rank_ic']:.4f}")
                if progress is not None:
                    progress(epoch, p.max_epochs, metrics)
                if stale >= p.patience:
                    stopped = f"조기 종료: 검증 손실이 {p.patience}번 연속 나아지지 않아 멈춤"
                    break
            else:
                stopped = "정해진 반복 횟수를 모두 마침"
        finally:
            bar.close()
        if best_state is None:
            raise LSTMTrainingError("the LSTM produced no usable epoch (validation loss was never finite)")
        model.load_state_dict(best_state)
        model.eval()
    best = history[best_epoch - 1]
    last = history[-1]
    # overfitting: validation ended worse than its best while the training loss improved after the best epoch
    later_train = [h["train_loss"] for h in history[best_epoch:]]
    overfit = bool(later_train) and last["val_loss"] > best["val_loss"] * 1.01 and min(later_train) < best["train_loss"]
    result = LSTMTrainResult(
        train_loss=best["train_loss"], val_loss=best["val_loss"], val_auc=best["val_auc"],
        val_rank_ic=best["val_rank_ic"], epochs_trained=len(history), best_epoch=best_epoch,
        overfitting_warning=bool(overfit), history=history, stopped_reason=stopped,
        train_samples=len(train_idx), val_samples=len(val_idx), seconds=time.perf_counter() - started)
    return model, result, best_val


def _auc(prob: np.ndarray, source: _Source, idx: np.ndarray) -> float:
    if source.up is None:
        return float("nan")
    return binary_metrics(prob, source.up[idx])["auc"]


def _rank_ic(score: np.ndarray, source: _Source, idx: np.ndarray) -> float:
    target = source.rank if source.rank is not None else source.up
    if target is None:
        return float("nan")
    return daily_rank_ic(score, target[idx], source.day[idx])


# -- inference ------------------------------------------------------------------------------
def predict_source(model: StockLSTM, source: _Source, idx: np.ndarray, device: str = "cpu",
                   batch_size: int = 4096, n_threads: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, score, attention) for the samples ``idx`` of ``source``, in batches."""
    model.eval()
    probs, scores, attns = [], [], []
    with _torch_settings(n_threads, deterministic=False), torch.no_grad():
        for start in range(0, len(idx), batch_size):
            x, present = source.batch(idx[start : start + batch_size])
            logit, score, attn = model(torch.from_numpy(x).to(device), torch.from_numpy(present).to(device))
            probs.append(torch.sigmoid(logit).cpu().numpy())
            scores.append(score.cpu().numpy())
            attns.append(attn.cpu().numpy())
    if not probs:
        return np.empty(0), np.empty(0), np.empty((0, getattr(source, "seq_len", 0)), dtype=np.float32)
    return np.concatenate(probs), np.concatenate(scores), np.concatenate(attns)


def forward_numpy(model: StockLSTM, z: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, ...]:
    """One small forward pass (single-ticker inference); no thread changes, so it stays fast."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        logit, score, attn = model(torch.from_numpy(z).to(device), torch.from_numpy(present).to(device))
    return torch.sigmoid(logit).cpu().numpy(), score.cpu().numpy(), attn.cpu().numpy()


# -- checkpoints ----------------------------------------------------------------------------------
def save_checkpoint(model: StockLSTM, mean: np.ndarray | None, std: np.ndarray | None, path: Path,
                    extra: dict[str, Any]) -> None:
    """state_dict + config + scaler as plain tensors; written to a temp file and renamed into place."""
    payload = {
        "format": FORMAT_VERSION,
        "config": dict(model.config),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "scaler_mean": None if mean is None else torch.from_numpy(np.asarray(mean, dtype=np.float32).copy()),
        "scaler_std": None if std is None else torch.from_numpy(np.asarray(std, dtype=np.float32).copy()),
        "extra": extra,
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # the pid: a leftover's writer is known
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: str | None = "cpu") -> tuple[StockLSTM, np.ndarray | None,
                                                                    np.ndarray | None, dict[str, Any]]:
    """Load with ``weights_only=True`` (no arbitrary pickle); raises on a corrupt or foreign file."""
    ckpt = torch.load(path, map_location=device or "cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a kstock LSTM checkpoint (format {FORMAT_VERSION})")
    model = StockLSTM(**ckpt["config"])
    model.load_state_dict(ckpt["model_state"])
    model.to(device or "cpu").eval()
    mean = None if ckpt["scaler_mean"] is None else ckpt["scaler_mean"].cpu().numpy()
    std = None if ckpt["scaler_std"] is None else ckpt["scaler_std"].cpu().numpy()
    return model, mean, std, dict(ckpt.get("extra") or {})
