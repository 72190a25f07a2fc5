"""The LSTM's key days are shown only when the attention stands out, and in words."""

from __future__ import annotations

import numpy as np

from kstock.market.types import Panel
from kstock.ml.lstm.notes import STANDOUT, key_days_ko, stands_out


def panel(n: int = 40) -> Panel:
    dates = np.arange(np.datetime64("2025-09-01"), np.datetime64("2025-09-01") + n).astype("datetime64[D]")
    ohlcv = np.full((1, n, 5), 100.0)
    ohlcv[0, :, 4] = 1_000.0
    ohlcv[0, 30, 3] = 105.0  # +5% on day 30
    ohlcv[0, 30, 4] = 3_000.0  # three times the usual volume
    ohlcv[0, 31:, 3] = 105.0
    return Panel(["005930"], dates, ohlcv, np.zeros((1, n), dtype=bool))


def test_near_uniform_attention_says_nothing() -> None:
    weights = np.full(20, 0.05)
    weights[3] = 0.07  # the "06-11(5%), 06-12(5%)": not worth showing
    assert not stands_out(weights)
    assert key_days_ko(weights, panel(), 0, 39) == []


def test_a_standout_day_is_described_by_its_move_and_volume() -> None:
    weights = np.full(20, 0.02)
    weights[10] = 0.4  # the window ends on day 39, so it starts on day 20 and index 10 is day 30 (10-01)
    assert weights.max() >= STANDOUT / len(weights) * weights.sum() and stands_out(weights)
    lines = key_days_ko(weights, panel(), 0, 39)
    assert len(lines) == 1
    assert lines[0].startswith("10-01(수)") and "주가 +5.0%" in lines[0] and "거래량 평소의 3.0배" in lines[0]
