"""``ThreePhaseTrainer``: the sector model's three-phase training (DESIGN §3, the LASPS plan).

1. **Phase 1** — backbone (transformer, CNN, fusion) + ``common_head`` on every training sample.
2. **Phase 2** — every sector head starts as a copy of the common head; the backbone and the common
   head are frozen; each sample goes through its own sector's head, so each head learns from its
   sector's samples only (all heads in one pass rather than 13 sequential loops: the heads share
   nothing, so this is the same optimisation, and it checkpoints and distributes like the other
   phases). An epoch draws up to ``phase2_samples_per_sector`` samples from each sector, so small
   sectors are not drowned out. A sector with fewer than ``min_samples`` training samples gets no
   active head: it keeps the common head's weights and its stocks are answered by the common head.
3. **Phase 3** — everything fine-tuned with sector routing at a lower learning rate.

Each phase: focal loss with class weights from the training split, AdamW, linear warm-up + cosine
learning-rate schedule, gradient clipping, validation after every epoch on a date-split hold-out
(the last ``val_fraction`` of the training days, after an embargo of the label horizon) routed
exactly as the phase routes — through the sector heads in phases 2 and 3 — early stopping on the
validation loss (the best epoch's weights are kept), and a checkpoint every epoch.

Checkpoints (``checkpoint_dir``): ``phase{P}_epoch{EEE}.pt`` after every epoch and
``phase{P}_final.pt`` when a phase ends. Each holds the model, optimizer and scheduler states, the
phase, the epoch, the metrics so far, the early-stopping state, the batch size, the RNG states
(torch, CUDA, numpy, python) and what was fitted on the training split (feature scaler, class
weights, sector counts, split dates). Everything in them is a tensor or a plain Python value, so they
load with ``torch.load(weights_only=True)``. ``resume=True`` continues from the newest one and gives
the same weights as an uninterrupted run (epoch samples are drawn from (seed, phase, epoch), dropout
from the restored RNG state).

Out of memory: an ``torch.cuda.OutOfMemoryError`` (or a ``RuntimeError`` saying "out of memory")
in a training step halves the batch size, retries the same samples and carries on.

Scale-out: the same code runs under ``torchrun`` with DistributedDataParallel when ``WORLD_SIZE > 1``
(one process per GPU, NCCL; gloo on CPU). Each epoch's samples are sharded with a
``DistributedSampler``; every rank validates on the full (small) validation set, so early stopping
agrees without communication; rank 0 alone writes checkpoints and shows progress. Single node::

    torchrun --standalone --nproc_per_node=4 -m kstock train sector --db data/kstock.db

(``python -m kstock …`` works the same way without torchrun: one CPU or GPU process, the default.)
Under DDP an out-of-memory error cannot be recovered by one rank alone (the ranks would fall out of
step), so it stops the run with advice to lower ``batch_size`` and ``--resume``.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kstock.errors import KstockError
from kstock.ml.sector.checkpoints import (
    CHECKPOINT_FORMAT,
    cpu_state,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from kstock.ml.sector.config import SectorConfig
from kstock.ml.sector.decision import ClassDecision
from kstock.ml.sector.model import FocalLoss, SectorAwareFusionModel
from kstock.ml.sector.runtime import dist_info, empty_cache, evaluate_samples, is_oom, resolve_device, to_tensors
from kstock.ml.sector.schedule import WarmupCosine, parse_phases
from kstock.ml.sector.windows import Split, WindowScaler

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


# -- the trainer ---------------------------------------------------------------------------------------
class ThreePhaseTrainer:
    """Runs phases 1–3 of ``model`` on ``split``; see the module docstring."""

    def __init__(self, model: SectorAwareFusionModel, split: Split, config: SectorConfig,
                 checkpoint_dir: str | Path | None = None, progress: bool | Progress | None = True,
                 device: torch.device | str | None = None) -> None:
        self.config = config
        self.split = split
        self.world, self.rank = dist_info()
        self.device = torch.device(device) if device is not None else resolve_device(config)
        if self.world > 1:
            self._init_distributed()
        if config.threads:
            torch.set_num_threads(config.threads)
        self.model = model.to(self.device)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.show_bar = bool(progress) and self.rank == 0
        self.callback = progress if callable(progress) else None
        self.batch_size = config.batch_size
        self.loss_fn = FocalLoss(torch.tensor(split.class_weights, dtype=torch.float32), config.focal_gamma)
        self.history: list[dict[str, Any]] = []
        self.phase_metrics: dict[str, dict[str, Any]] = {}
        self.phase = 0

    # -- public -------------------------------------------------------------------------------------
    def run(self, phases: str | int | tuple[int, ...] = "all", resume: bool = False) -> dict[str, Any]:
        """Train the requested phases (``"all"``, 1, 2, 3 or a tuple); returns the metrics per phase."""
        wanted = parse_phases(phases)
        ck = self._latest_checkpoint() if resume else None
        if ck is not None:
            self._restore_common(ck)
            reached = ck["phase"] + (1 if ck["done"] else 0)  # the next phase that may run
            if wanted and wanted[0] > reached:
                raise KstockError(f"cannot resume at phase {wanted[0]}: the newest checkpoint is phase "
                                  f"{ck['phase']}{' (finished)' if ck['done'] else ''}; run the phases before it")
            wanted = tuple(p for p in wanted if p > ck["phase"] or (p == ck["phase"] and not ck["done"]))
            if ck["done"]:
                ck = None
        elif wanted[0] > 1:
            self._restore_common(self._phase_final(wanted[0] - 1))
            self._clear_checkpoints(from_phase=wanted[0])
        else:
            self._clear_checkpoints(from_phase=1)
            if resume:
                log.info("no sector checkpoint to resume from in %s; starting fresh", self.checkpoint_dir)
            torch.manual_seed(self.config.seed)
        for p in wanted:
            self.train_phase(p, ck if ck is not None and ck["phase"] == p else None)
        return self.phase_metrics

    def active_sectors(self) -> np.ndarray:
        """Sectors with at least ``min_samples`` training samples: the ones phase 2 gives a head."""
        return np.flatnonzero(self.split.sector_counts >= self.config.min_samples)

    def evaluate(self, phase: int = 2, tickers: np.ndarray | None = None,
                 days: np.ndarray | None = None) -> dict[str, Any]:
        """Loss, accuracy, per-class accuracy, macro-F1 and the HOLD baseline on the validation samples
        (or the given ones), routed as ``phase`` routes."""
        t = self.split.val_tickers if tickers is None else tickers
        d = self.split.val_days if days is None else days
        return evaluate_samples(self.model, self.split.source, t, d, self.loss_fn, self.config.infer_batch,
                                self.device, phase, decision=ClassDecision.undoing(self.split.class_weights))

    # -- phases ---------------------------------------------------------------------------------------
    def train_phase(self, phase: int, ck: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg, model = self.config, self.model
        self.phase = phase
        self._set_trainable(phase, fresh=ck is None)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr(phase), weight_decay=cfg.weight_decay)
        epochs = cfg.epochs(phase)
        per_epoch = len(self._epoch_positions(phase, 0))
        scheduler = WarmupCosine(optimizer, per_epoch * epochs, cfg.warmup_frac)
        best = {"loss": math.inf, "epoch": -1, "state": None}
        bad_epochs, start = 0, 0
        if ck is not None:
            optimizer.load_state_dict(ck["optimizer"])
            scheduler.load_state_dict(ck["scheduler"])
            best, bad_epochs, start = ck["best"], int(ck["bad_epochs"]), int(ck["epoch"])
            self.batch_size = int(ck["batch_size"])
            set_rng_state(ck["rng"])
        net = self._wrap(phase)
        stopped = ck is not None and bad_epochs >= cfg.patience
        for epoch in range(start, epochs):
            if stopped:
                break
            train_loss = self._train_epoch(net, optimizer, scheduler, phase, epoch, epochs)
            metrics = self.evaluate(phase)
            entry = {"phase": phase, "epoch": epoch + 1, "train_loss": train_loss, "batch_size": self.batch_size,
                     **{f"val_{k}": v for k, v in metrics.items()}}
            self.history.append(entry)
            if metrics["loss"] < best["loss"] - 1e-6:
                best = {"loss": float(metrics["loss"]), "epoch": epoch + 1, "state": cpu_state(model),
                        "metrics": metrics}
                bad_epochs = 0
            else:
                bad_epochs += 1
            stopped = bad_epochs >= cfg.patience
            self._emit({"event": "epoch", **entry})
            self._log_epoch(entry)
            self._save(f"phase{phase}_epoch{epoch + 1:03d}.pt", phase, epoch + 1, optimizer, scheduler, best,
                       bad_epochs, done=False)
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        # the best epoch's validation metrics are those of the restored weights; evaluate only if none ran
        final = dict(best["metrics"]) if best.get("metrics") else self.evaluate(phase)
        final["best_epoch"] = int(best["epoch"])
        final["epochs_run"] = sum(1 for h in self.history if h["phase"] == phase)
        self.phase_metrics[f"phase{phase}"] = final
        self._save(f"phase{phase}_final.pt", phase, epochs, optimizer, scheduler, best, bad_epochs, done=True)
        self._emit({"event": "phase", "phase": phase, **final})
        model.unfreeze_backbone()
        return final

    def _set_trainable(self, phase: int, fresh: bool) -> None:
        model = self.model
        active = np.zeros(model.n_sectors, dtype=bool)
        if phase == 1:
            model.unfreeze_backbone()
        elif phase == 2:
            if fresh:
                model.init_sector_heads_from_common(active=torch.from_numpy(self._active_mask()))
            model.freeze_backbone()
        else:
            model.unfreeze_backbone()
        if phase > 1:
            active = model.head_active.cpu().numpy()
        for s, head in enumerate(model.sector_heads):
            head.requires_grad_(bool(active[s]))  # inactive heads keep the common head's weights

    def _active_mask(self) -> np.ndarray:
        mask = np.zeros(self.model.n_sectors, dtype=bool)
        mask[self.active_sectors()] = True
        return mask

    def _train_epoch(self, net: nn.Module, optimizer: torch.optim.Optimizer, scheduler: WarmupCosine,
                     phase: int, epoch: int, epochs: int) -> float:
        from tqdm.auto import tqdm

        self.model.train()
        pos = self._epoch_positions(phase, epoch)
        sp = self.split
        total_loss, seen, i = 0.0, 0, 0
        # with a text callback (the retrain service: bot, CLI, demo) the bar is for a terminal only (tqdm's
        # disable=None rule, as the LSTM's), so logs and captured output get the text lines without it
        disable = not self.show_bar or (None if self.callback is not None else False)
        # the bar spans the whole phase (epochs × samples), so its ETA is the phase's, not this epoch's
        bar = tqdm(total=epochs * len(pos), initial=epoch * len(pos), unit="표본", leave=False, disable=disable,
                   desc=f"sector {phase}단계 반복 {epoch + 1}/{epochs}", dynamic_ncols=True)
        try:
            while i < len(pos):
                chunk = pos[i : i + self.batch_size]
                try:
                    loss = self._train_step(net, optimizer, sp.train_tickers[chunk], sp.train_days[chunk], phase)
                except (RuntimeError, MemoryError) as exc:
                    if not is_oom(exc):
                        raise
                    self._halve_batch(optimizer, exc)
                    continue
                i += len(chunk)
                seen += len(chunk)
                total_loss += loss * len(chunk)
                scheduler.step(len(chunk))
                bar.update(len(chunk))
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", bs=self.batch_size)
                self._emit({"event": "batch", "phase": phase, "epoch": epoch + 1, "epochs": epochs, "done": i,
                            "total": len(pos), "loss": total_loss / seen})
        finally:
            bar.close()
        return total_loss / max(seen, 1)

    def _train_step(self, net: nn.Module, optimizer: torch.optim.Optimizer, tickers: np.ndarray, days: np.ndarray,
                    phase: int) -> float:
        ts, img, sid = to_tensors(self.split.source, tickers, days, self.device)
        y = torch.from_numpy(self.split.source.labels(tickers, days)).to(self.device)
        optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            out = net(ts, img, sid, phase=phase)
        loss = self.loss_fn(out["logits"], y)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                           self.config.grad_clip)
        optimizer.step()
        return float(loss.detach())

    def _halve_batch(self, optimizer: torch.optim.Optimizer, exc: BaseException) -> None:
        optimizer.zero_grad(set_to_none=True)
        empty_cache(self.device)
        if self.world > 1:
            raise KstockError(f"out of memory at batch size {self.batch_size} under DistributedDataParallel; "
                              "lower batch_size and resume") from exc
        if self.batch_size <= 1:
            raise exc
        self.batch_size //= 2
        log.warning("out of memory; batch size halved to %d", self.batch_size)
        self._emit({"event": "oom", "batch_size": self.batch_size})

    def _epoch_positions(self, phase: int, epoch: int) -> np.ndarray:
        """This rank's sample positions for (phase, epoch): a seeded draw, shuffled and sharded."""
        from torch.utils.data.distributed import DistributedSampler

        cfg, n = self.config, len(self.split.train_tickers)
        rng = np.random.default_rng([cfg.seed, phase, epoch])
        if phase == 2:
            sid = self.split.train_sectors()
            parts = []
            for s in self.active_sectors():
                p = np.flatnonzero(sid == s)
                cap = cfg.phase2_samples_per_sector
                parts.append(np.sort(rng.choice(p, cap, replace=False)) if cap and len(p) > cap else p)
            pos = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        else:
            cap = cfg.samples_per_epoch
            pos = np.sort(rng.choice(n, cap, replace=False)) if cap and n > cap else np.arange(n)
        if len(pos) == 0:
            return pos
        sampler = DistributedSampler(pos, num_replicas=self.world, rank=self.rank, shuffle=True,
                                     seed=cfg.seed * 1000 + phase)
        sampler.set_epoch(epoch)
        return pos[np.fromiter(iter(sampler), dtype=np.int64)]

    # -- distributed / devices ---------------------------------------------------------------------------
    def _init_distributed(self) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    def _wrap(self, phase: int) -> nn.Module:
        if self.world <= 1:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # phases 2–3: a batch need not contain every sector, so some heads get no gradient
        return DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=phase > 1)

    def _autocast(self) -> Any:
        if self.device.type == "cuda" and self.config.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def _barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    # -- checkpoints --------------------------------------------------------------------------------------
    def _save(self, name: str, phase: int, epoch: int, optimizer: torch.optim.Optimizer, scheduler: WarmupCosine,
              best: dict[str, Any], bad_epochs: int, done: bool) -> None:
        if self.checkpoint_dir is None:
            return
        if self.rank == 0:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            state = {
                "format": CHECKPOINT_FORMAT, "phase": phase, "epoch": epoch, "done": done,
                "model": cpu_state(self.model), "model_config": dict(self.model.config),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "best": best, "bad_epochs": bad_epochs, "batch_size": self.batch_size,
                "history": copy.deepcopy(self.history), "phase_metrics": copy.deepcopy(self.phase_metrics),
                "rng": rng_state(), "config": self.config.as_dict(), "prep": self.split.prep_state(),
            }
            tmp = self.checkpoint_dir / f"{name}.{os.getpid()}.tmp"  # the pid: a leftover's writer is known
            torch.save(state, tmp)
            os.replace(tmp, self.checkpoint_dir / name)  # never a half-written checkpoint
        self._barrier()

    def _clear_checkpoints(self, from_phase: int) -> None:
        """A fresh run removes the checkpoints of the phases it is about to retrain, so a later
        ``--resume`` can never pick up a file left by an older run."""
        if self.checkpoint_dir is not None and self.checkpoint_dir.is_dir() and self.rank == 0:
            for phase, _, path in list_checkpoints(self.checkpoint_dir):
                if phase >= from_phase:
                    path.unlink(missing_ok=True)
        self._barrier()

    def _latest_checkpoint(self) -> dict[str, Any] | None:
        if self.checkpoint_dir is None or not self.checkpoint_dir.is_dir():
            return None
        found = list_checkpoints(self.checkpoint_dir)
        return load_checkpoint(found[-1][2], "cpu") if found else None

    def _phase_final(self, phase: int) -> dict[str, Any]:
        path = (self.checkpoint_dir or Path(".")) / f"phase{phase}_final.pt"
        if self.checkpoint_dir is None or not path.exists():
            raise KstockError(f"phase {phase + 1} needs the end of phase {phase}: {path} not found "
                              f"(train phase {phase} first, or use --phase all)")
        return load_checkpoint(path, "cpu")

    def _restore_common(self, ck: dict[str, Any]) -> None:
        """Model weights, preprocessing and history from a checkpoint; refuses a different data split."""
        saved, now = ck["prep"]["split"], self.split.info
        keys = ("train_start", "train_end", "val_start", "val_end", "n_train", "n_val")
        if any(saved.get(k) != now.get(k) for k in keys):
            raise KstockError("the checkpoint was trained on a different data split "
                              f"({', '.join(f'{k}={saved.get(k)}' for k in keys[:4])}); "
                              "train from scratch (without --resume) or use the same data")
        self.split.source.scaler = WindowScaler.from_dict(ck["prep"]["scaler"])
        self.split.class_weights = np.asarray(ck["prep"]["class_weights"], dtype=float)
        self.loss_fn = FocalLoss(torch.tensor(self.split.class_weights, dtype=torch.float32), self.config.focal_gamma)
        self.model.load_state_dict(ck["model"])
        self.history = list(ck["history"])
        self.phase_metrics = dict(ck["phase_metrics"])
        self.batch_size = int(ck["batch_size"])
        if ck["done"]:
            set_rng_state(ck["rng"])

    # -- reporting ----------------------------------------------------------------------------------------
    def _emit(self, event: dict[str, Any]) -> None:
        if self.callback is not None and self.rank == 0:
            self.callback(event)

    def _log_epoch(self, e: dict[str, Any]) -> None:
        if self.rank == 0:
            log.info("sector phase %d epoch %d: train loss %.4f, val loss %.4f, macro-F1 %.3f (HOLD baseline %.3f)",
                     e["phase"], e["epoch"], e["train_loss"], e["val_loss"], e["val_macro_f1"],
                     e["val_hold_baseline_macro_f1"])
