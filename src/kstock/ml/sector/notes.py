"""How an analysis shows the sector model's extras: which head answered (the kinds table's ``note``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kstock.market.sectors import sector_name
from kstock.ml.base import SECTOR_HEAD


def head_note(extras: Mapping[str, np.ndarray], i: int) -> str | None:
    """"<sector> 헤드" or "공통 헤드" for ticker row ``i``; None when the model did not say."""
    if SECTOR_HEAD not in extras:
        return None
    head = int(extras[SECTOR_HEAD][i, 0])
    return f"{sector_name(head)} 헤드" if head >= 0 else "공통 헤드"
