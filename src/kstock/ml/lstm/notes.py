"""How an analysis shows the LSTM's extras (the kinds table's ``note``): the days its attention weighed most, in
words — only when the attention says something.

An attention over 20 days that is nearly uniform (every day ≈ 5%) says nothing about which days
mattered; printing "06-11(5%), 06-12(5%)" only looks like insight. So the key days are shown only when
the top day's weight is at least :data:`STANDOUT` × uniform, and each is described by what happened
that day: the price move and the volume against its usual level.
"""

from __future__ import annotations

import numpy as np

from kstock.market.types import Panel
from kstock.ml.base import ATTENTION, Note, NoteContext

#: The top day must carry at least this many times the uniform weight (1 / window) to be shown.
STANDOUT = 2.0
#: Days shown at most, and the share of the uniform weight a shown day must reach (besides the top one).
TOP_DAYS = 3
MIN_SHARE = 1.5
#: Trading days over which "usual" volume is averaged.
VOLUME_DAYS = 20
_WEEKDAYS_KO = "월화수목금토일"


def key_days_note(context: NoteContext) -> Note | None:
    """The LSTM's note for ticker row ``i``: its key days in words (listed; none when the attention does not stand
    out) and, as the value, the top days with their weights (the seed's ``PredictionResult.lstm_key_days``)."""
    if ATTENTION not in context.extras:
        return None
    attention = context.extras[ATTENTION][context.i, 0]
    lines = key_days_ko(attention, context.panel, context.i, context.day)
    return Note(tuple(lines), listed=True, value=key_days(attention, context.dates, context.day))


def key_days(attention: np.ndarray, dates: np.ndarray, day: int, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` days of the window ending on ``day`` by attention weight, in date order, with their weights."""
    window = dates[max(0, day - len(attention) + 1) : day + 1]
    weights = attention[-len(window):]
    order = np.argsort(weights)[::-1][:top]
    return [(str(window[j]), float(weights[j])) for j in sorted(order)]


def stands_out(weights: np.ndarray) -> bool:
    """Whether the largest weight is at least :data:`STANDOUT` times uniform."""
    w = np.asarray(weights, dtype=float)
    w = w[np.isfinite(w)]
    return bool(w.size > 1 and w.max() >= STANDOUT / w.size * w.sum())


def key_days_ko(attention: np.ndarray, panel: Panel, i: int, day: int) -> list[str]:
    """Korean lines for the days the LSTM weighed most for ticker row ``i`` on ``day`` — empty when the
    attention does not stand out. e.g. ``10-02(목) 34%: 주가 +4.1%, 거래량 평소의 2.3배``."""
    weights = np.nan_to_num(np.asarray(attention, dtype=float))
    if not stands_out(weights):
        return []
    shares = weights / weights.sum()
    start = day - len(shares) + 1
    top = np.argsort(shares)[::-1][:TOP_DAYS]
    shown = [j for j in top if j == top[0] or shares[j] >= MIN_SHARE / len(shares)]
    return [_describe(panel, i, start + j, float(shares[j])) for j in sorted(shown) if start + j >= 0]


def _describe(panel: Panel, i: int, t: int, share: float) -> str:
    date = panel.dates[t].astype("datetime64[D]").item()
    head = f"{date:%m-%d}({_WEEKDAYS_KO[date.weekday()]}) {share * 100:.0f}%"
    close, volume = panel.close[i], panel.ohlcv[i, :, 4]
    if not np.isfinite(close[t]):
        return f"{head}: 거래 없음"
    before = close[:t][np.isfinite(close[:t])]
    move = f"주가 {close[t] / before[-1] - 1:+.1%}" if before.size else "주가 변동 정보 없음"
    usual = volume[max(0, t - VOLUME_DAYS):t]
    usual = usual[np.isfinite(usual) & (usual > 0)]
    if usual.size and np.isfinite(volume[t]):
        return f"{head}: {move}, 거래량 평소의 {volume[t] / usual.mean():.1f}배"
    return f"{head}: {move}"
