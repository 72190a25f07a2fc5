"""`score_market(date)`: score every common stock on a day, store predictions and signals.

The daily job runs it after the close; `/signals`, the push and `kstock signals` read what it stored,
so every subscriber sees the same list and nothing is recomputed per request.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np

from kstock.errors import KstockError
from kstock.market.dates import day_int, iso
from kstock.service.context import Services
from kstock.service.predict import predict_day


@dataclass
class Signal:
    code: str
    name: str
    label: str
    probability: float | None
    score: float | None
    rank: int
    close: float | None = None


@dataclass
class ScoringReport:
    date: str
    scored: int
    buys: list[Signal] = field(default_factory=list)
    sells: list[Signal] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def score_market(services: Services, date: str | None = None, top: int = 10) -> ScoringReport:
    """Predict the whole universe on ``date`` (default: the last stored day) and store the results."""
    data = services.model_data()
    day = len(data.dates) - 1 if date is None else _day_index(data.dates, date)
    pred = predict_day(services, day)
    score = pred.ensemble.score[:, 0]
    ok = np.isfinite(score) & data.universe
    order = np.argsort(-np.where(ok, score, -np.inf))
    ranks = np.empty(len(score), dtype=int)
    ranks[order] = np.arange(1, len(score) + 1)
    date_int, created = day_int(data.dates[day]), _now()
    signal_rows = []
    prediction_rows = []
    for i in np.flatnonzero(ok):
        code = data.panel.codes[i]
        signal_rows.append((date_int, code, pred.labels[i], _f(pred.ensemble.probability[i, 0]), _f(score[i]),
                            int(ranks[i]), None, created))
        for name, out in pred.members.items():
            if out is not None and np.isfinite(out.score[i, 0]):
                prediction_rows.append((date_int, code, name, pred.versions[name], _f(out.probability[i, 0]),
                                        _f(out.score[i, 0]), None, None, created))
    with services.store.transaction() as conn:
        conn.execute("DELETE FROM signals WHERE date = ?", (date_int,))
        conn.executemany("INSERT INTO signals VALUES (?, ?, ?, ?, ?, ?, ?, ?)", signal_rows)
        conn.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", prediction_rows)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_scored', ?)",
                     (json.dumps({"date": iso(date_int), "versions": pred.versions}),))
    buys, sells = stored_signals(services, iso(date_int), top)
    return ScoringReport(iso(date_int), len(signal_rows), buys, sells, pred.versions, pred.unavailable)


def stored_signals(services: Services, date: str | None = None, top: int = 5) -> tuple[list[Signal], list[Signal]]:
    """The strongest BUY and SELL signals of ``date`` (default: the last scored day)."""
    conn = services.store.conn
    if date is None:
        row = conn.execute("SELECT MAX(date) FROM signals").fetchone()
        if row[0] is None:
            raise KstockError(
                "아직 채점된 신호가 없습니다 — 관리자가 /score 를 실행하거나 장 마감 후 자동 채점을 기다려 주세요."
            )
        date_int = row[0]
    else:
        try:
            date_int = day_int(date)
        except ValueError:
            raise KstockError(f"날짜 '{date}'를 읽을 수 없습니다 (YYYY-MM-DD).") from None
    names = dict(conn.execute("SELECT code, name FROM tickers").fetchall())
    closes = dict(conn.execute("SELECT code, close FROM prices WHERE date = ?", (date_int,)).fetchall())

    def fetch(label: str, order: str) -> list[Signal]:
        rows = conn.execute(f"SELECT code, label, probability, score, rank FROM signals WHERE date = ? AND label = ? "
                            f"ORDER BY score {order} LIMIT ?", (date_int, label, top)).fetchall()
        return [Signal(c, names.get(c, c), lab, p, s, r, closes.get(c)) for c, lab, p, s, r in rows]

    return fetch("BUY", "DESC"), fetch("SELL", "ASC")


def last_scored_date(services: Services) -> str | None:
    row = services.store.conn.execute("SELECT MAX(date) FROM signals").fetchone()
    return iso(row[0]) if row[0] else None


def _day_index(dates: np.ndarray, date: str) -> int:
    try:
        d = np.datetime64(date, "D")
    except ValueError:
        raise KstockError(f"날짜 '{date}'를 읽을 수 없습니다 (YYYY-MM-DD).") from None
    i = int(np.searchsorted(dates, d))
    if i >= len(dates) or dates[i] != d:
        raise KstockError(f"{date}: 저장된 거래일이 아닙니다 (데이터 {dates[0]} ~ {dates[-1]}).")
    return i


def _f(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
