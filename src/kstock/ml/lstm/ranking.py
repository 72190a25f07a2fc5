"""Learning to rank each day's names: day-grouped batches and a per-day correlation loss (torch).

The LSTM's default batches are random samples, so a batch holds one or two names of any day and its loss
can only ask each name's score to sit near its rank (an MSE). What the ensemble and the book use is the
*order* within a day. With ``LSTMParams.corr_weight > 0`` each batch is built from whole day groups
(``names_per_day`` random names of each of several days) and the loss adds ``1 − mean`` of the per-day
Pearson correlations between score and target rank — a differentiable stand-in for the daily Rank IC.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

#: Below this the correlation of a day group is left out of the loss (two names always correlate ±1).
MIN_GROUP = 8


def day_groups(days: np.ndarray) -> list[np.ndarray]:
    """The positions of ``days`` (one day index per sample) grouped by day, in day order."""
    days = np.asarray(days)
    order = np.argsort(days, kind="stable")
    cuts = np.flatnonzero(np.diff(days[order])) + 1
    return [g for g in np.split(order, cuts) if g.size]


def day_batches(train_idx: np.ndarray, sample_days: np.ndarray, per_epoch: int, batch_size: int,
                names_per_day: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of batches ``(sample indices, group id per sample)``, about ``per_epoch`` samples in all.

    Days are drawn in a random order (each once, then again if the budget asks for more); of each day
    ``names_per_day`` names at random; a batch holds ``batch_size // names_per_day`` such groups.
    """
    groups = [train_idx[g] for g in day_groups(sample_days[train_idx])]
    groups = [g for g in groups if g.size >= MIN_GROUP]
    if not groups:
        return
    per_batch = max(1, batch_size // names_per_day)
    drawn: list[np.ndarray] = []
    total = 0
    while total < per_epoch:
        for k in rng.permutation(len(groups)):
            g = groups[k]
            pick = g if g.size <= names_per_day else rng.choice(g, names_per_day, replace=False)
            drawn.append(pick)
            total += pick.size
            if total >= per_epoch:
                break
    for start in range(0, len(drawn), per_batch):
        chunk = drawn[start : start + per_batch]
        ids = np.concatenate([np.full(c.size, j) for j, c in enumerate(chunk)])
        yield np.concatenate(chunk), ids


def day_corr_loss(score: torch.Tensor, target: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """``1 −`` the mean over day groups of the Pearson correlation of ``score`` and ``target`` (0 = perfect
    order, 1 = none, 2 = reversed); groups with a constant score or target count as no correlation."""
    n = int(group.max()) + 1 if group.numel() else 0
    if n == 0:
        return score.sum() * 0.0
    zeros = score.new_zeros(n)
    count = zeros.index_add(0, group, torch.ones_like(score))
    ds = score - (zeros.index_add(0, group, score) / count)[group]
    dt = target - (zeros.index_add(0, group, target) / count)[group]
    cov = zeros.index_add(0, group, ds * dt)
    var = zeros.index_add(0, group, ds * ds) * zeros.index_add(0, group, dt * dt)
    corr = cov / torch.sqrt(var + 1e-12)
    return 1.0 - corr.mean()
