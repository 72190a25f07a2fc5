"""Walk-forward folds by date across the whole universe, with an embargo (DESIGN §4).

Labels look ``horizon`` days ahead, so neighbouring samples overlap. Splits are therefore by date
(never "the last 20 % of rows"): each fold tests on a contiguous block of days and trains on every
earlier day whose label window ends before the test block starts (expanding window + embargo).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from kstock.errors import KstockError


@dataclass(frozen=True)
class Fold:
    """Day indices into the panel's dates: train on [0, train_end], test on [test_start, test_end]."""

    train_end: int
    test_start: int
    test_end: int

    def train_mask(self, n_days: int) -> np.ndarray:
        mask = np.zeros(n_days, dtype=bool)
        mask[: self.train_end + 1] = True
        return mask

    def test_days(self) -> np.ndarray:
        return np.arange(self.test_start, self.test_end + 1)

    def describe(self, dates: np.ndarray) -> dict[str, str]:
        return {"train_start": str(dates[0]), "train_end": str(dates[self.train_end]),
                "test_start": str(dates[self.test_start]), "test_end": str(dates[self.test_end])}


def walk_forward_folds(
    dates: np.ndarray,
    n_folds: int = 4,
    start: str | np.datetime64 | None = None,
    end: str | np.datetime64 | None = None,
    embargo: int = 5,
    min_train_days: int = 120,
) -> list[Fold]:
    """Split [start, end] into ``n_folds`` contiguous test blocks; train ends ``embargo`` + 1 days before each.

    With embargo ≥ the label horizon, the last training label (t → t + horizon) ends strictly before
    the first test day, so no test-period price ever reaches the training set.
    """
    if n_folds < 1:
        raise KstockError("--folds must be at least 1")
    lo = 0 if start is None else int(np.searchsorted(dates, parse_day(start, "--start")))
    hi = len(dates) - 1 if end is None else int(np.searchsorted(dates, parse_day(end, "--end"), side="right")) - 1
    lo = max(lo, min_train_days + embargo + 1)
    if hi - lo + 1 < n_folds * 5:
        raise KstockError(
            f"not enough days to test: {max(0, hi - lo + 1)} trading days after a {min_train_days}-day warm-up "
            f"for {n_folds} folds; import more history or use fewer folds / an earlier --start"
        )
    edges = np.linspace(lo, hi + 1, n_folds + 1).round().astype(int)
    return [Fold(train_end=int(a) - embargo - 1, test_start=int(a), test_end=int(b) - 1)
            for a, b in itertools.pairwise(edges)]


def warmup_fold(first: Fold, embargo: int = 5, min_train_days: int = 120, min_days: int = 20) -> Fold | None:
    """A fold just before ``first`` whose predictions only serve to weigh an ensemble for ``first``.

    Its test block ends on ``first.train_end`` — so its labels, too, end before ``first`` starts — and is as
    long as ``first``'s when the history allows; None when fewer than ``min_days`` days fit.
    """
    length = first.test_end - first.test_start + 1
    start = max(first.train_end - length + 1, min_train_days + embargo + 1)
    if first.train_end - start + 1 < min_days:
        return None
    return Fold(train_end=start - embargo - 1, test_start=start, test_end=first.train_end)


def parse_day(value: str | np.datetime64, what: str = "date") -> np.datetime64:
    """A user's date as datetime64[D], or a clear KstockError naming the option."""
    try:
        return np.datetime64(value, "D")
    except (ValueError, TypeError):
        raise KstockError(f"{what} {value!r} is not a date (expected YYYY-MM-DD)") from None
