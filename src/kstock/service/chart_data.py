"""What the /analyze chart shows besides the candles: the model's recent calls and the market line.

Both come from what is already stored or cached — the ``signals`` table the daily scoring writes (the
calls users were actually shown) and the KOSPI closes aligned to the panel — so drawing a chart never
runs a model. Plain picklable values: the bot draws in a worker process, the charts never read the service.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kstock.market.completeness import MARKET_INDEX
from kstock.market.dates import day_int, iso
from kstock.market.repositories import signals
from kstock.market.store import MarketStore
from kstock.market.store_reads import index_last_day
from kstock.ml.data import ModelData

#: Trading days of the model's past calls a chart is handed (and draws as small markers).
PAST_CALL_DAYS = 60


def past_calls(store: MarketStore, code: str, start: str, end: str) -> list[tuple[str, str]]:
    """(date, label) of the stored calls of ``code`` between ``start`` and ``end`` (ISO, inclusive)."""
    with store.lock:
        rows = signals.history(store, code, day_int(start), day_int(end))
    return [(iso(d), str(label)) for d, label in rows]


def chart_extras(store: MarketStore, data: ModelData, code: str, day: int) -> dict[str, Any]:
    """Keyword arguments for :func:`kstock.charts.analysis.render_analysis_chart`: ``past_calls`` of the last
    :data:`PAST_CALL_DAYS` trading days up to ``day`` and the ``market`` (KOSPI) closes."""
    dates = data.dates
    first = str(dates[max(0, day - PAST_CALL_DAYS + 1)])
    extras: dict[str, Any] = {"past_calls": past_calls(store, code, first, str(dates[day]))}
    if data.market_close is not None and np.isfinite(data.market_close[: day + 1]).any():
        extras["market"] = pd.Series(np.asarray(data.market_close[: day + 1], dtype=float),
                                     index=pd.DatetimeIndex(dates[: day + 1]))
        note = market_note(store, dates[: day + 1])
        if note:
            extras["market_note"] = note
    return extras


def market_note(store: MarketStore, dates: np.ndarray) -> str | None:
    """What the chart's market line is past the KOSPI index's last day (None while the index covers it): the
    line goes on with the universe's own return (:mod:`kstock.market.market_series`), said, never frozen."""
    with store.lock:
        end = index_last_day(store, MARKET_INDEX)
    if end is None:
        return None
    lag = int((dates > np.datetime64(iso(end), "D")).sum())
    return f"KOSPI 지수가 {lag}거래일 늦음 — 이후는 종목 전체 수익률로 계산" if lag else None
