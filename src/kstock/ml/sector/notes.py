"""How an analysis shows the sector model's extras: which head answered (the kinds table's ``note``)."""

from __future__ import annotations

import numpy as np

from kstock.market.sectors import sector_name
from kstock.ml.base import SECTOR_HEAD, Note, NoteContext


def head_note(context: NoteContext) -> Note | None:
    """"<sector> 헤드" or "공통 헤드" for ticker row ``i``, one line whose text is also the value (the seed's
    ``PredictionResult.sector_head``); None when the model did not say (or made no prediction)."""
    head = context.extras[SECTOR_HEAD][context.i, 0] if SECTOR_HEAD in context.extras else np.nan
    if not np.isfinite(head):  # NaN: the model made no prediction for this ticker
        return None
    head = int(head)
    text = f"{sector_name(head)} 헤드" if head >= 0 else "공통 헤드"
    return Note((text,), value=text)
