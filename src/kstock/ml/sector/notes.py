"""How an analysis shows the sector model's extras: which head answered, and its three-class call only when it
beat always-HOLD on its own held-out days (the kinds table's ``note``)."""

from __future__ import annotations

import numpy as np

from kstock.market.sectors import sector_name
from kstock.ml.base import CALL_PROBS, CLASS_CALL, CLASS_PROBS, SECTOR_HEAD, Note, NoteContext

#: The three classes in the words of an analysis (SELL, HOLD, BUY: :data:`kstock.features.labels.CLASS_NAMES`).
CALL_WORDS = ("매도", "관망", "매수")


def head_note(context: NoteContext) -> Note | None:
    """"<sector> 헤드" or "공통 헤드" for ticker row ``i``, one line whose text is also the value (the seed's
    ``PredictionResult.sector_head``); None when the model did not say (or made no prediction)."""
    head = context.extras[SECTOR_HEAD][context.i, 0] if SECTOR_HEAD in context.extras else np.nan
    if not np.isfinite(head):  # NaN: the model made no prediction for this ticker
        return None
    head = int(head)
    text = f"{sector_name(head)} 헤드" if head >= 0 else "공통 헤드"
    return Note((text + _call_text(context),), value=text)


def _call_text(context: NoteContext) -> str:
    """" · 3분류 판단 매수 (52%)" when the model's class is a call it earned (:data:`CLASS_CALL`), else ""."""
    call = context.extras[CLASS_CALL][context.i, 0] if CLASS_CALL in context.extras else np.nan
    if not np.isfinite(call):
        return ""
    probs = context.extras.get(CALL_PROBS, context.extras[CLASS_PROBS])  # the probabilities the call was made from
    probability = probs[context.i, 0, int(call)]
    return f" · 3분류 판단 {CALL_WORDS[int(call)]} ({probability:.0%})"
