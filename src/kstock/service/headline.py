"""One number per call: what the call's score band has meant out of sample (DESIGN §7).

`/analyze`, `kstock analyze`, `/signals` and the push lead with the call and this number, e.g.
"예상 5일 초과수익률 +0.9% (과거 같은 등급 종목 58%가 시장을 이김, 표본 41,200)". The call comes from the
same band (:func:`kstock.ml.evaluation.calibration.call_for`), so the two never contradict; with no
table yet the text says so instead of showing a number nobody measured.

Which table serves: the long out-of-sample record (two years or more, DESIGN §7) — the one
``kstock evaluate --model ensemble`` stored with the ensemble weights, as long as every member it weighs is
serving, else the one stored with the serving version of the member with the largest weight (the trees'
two-year walk-forward made at training time: exact when that member serves alone, since the ensemble's
percentile is then its percentile, an approximation otherwise). Only when no such record exists (a history
shorter than two years) does a shorter table serve, and every number read from it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstock.config import Settings
from kstock.ml.evaluation.calibration import CalibrationTable, band_index, call_for
from kstock.service.serving import serving_table  # noqa: F401 — where callers and tests have found it

CALL_KO = {"BUY": "매수", "HOLD": "관망", "SELL": "매도"}
NO_RECORD = "아직 검증 기록 없음"


@dataclass(frozen=True)
class Headline:
    """The call and its one number; ``excess``/``hit_rate`` are None when there is no record to show."""

    call: str  # BUY / HOLD / SELL ("" when the name has no score)
    text: str  # the number as a sentence, e.g. "예상 5일 초과수익률 +0.9% (… 표본 41,200)"
    excess: float | None  # mean excess return of the band over the buyable universe (fraction)
    hit_rate: float | None  # share of the band's samples that beat that universe
    n: int  # samples behind the number (0 without a table)
    percentile: float | None  # the name's place in the day's scores, 0 … 1
    band: int | None  # 0 … 9

    @property
    def call_ko(self) -> str:
        return CALL_KO.get(self.call, self.call)

    def as_dict(self) -> dict[str, object]:
        return {"call": self.call, "text": self.text, "excess": self.excess, "hit_rate": self.hit_rate,
                "n": self.n, "percentile": self.percentile, "band": self.band}


def headline(settings: Settings, table: CalibrationTable | None, percentile: float | None) -> Headline:
    """The call and its number for a score percentile; ``table`` from :func:`serving_table` (None = none yet)."""
    p = float("nan") if percentile is None else float(percentile)
    if not np.isfinite(p):
        return Headline("", f"예상 {settings.label_horizon}일 초과수익률: 점수 없음", None, None, 0, None, None)
    if table is not None and table.horizon != settings.label_horizon:
        table = None  # measured for another horizon: its numbers do not answer this question
    call = call_for(table, p)
    band = table.band_for(p) if table is not None else None
    index = band_index(p)
    if band is None or not band.reliable:
        why = NO_RECORD if band is None else f"검증 표본 부족 ({band.n:,}건)"
        return Headline(call, f"예상 {settings.label_horizon}일 초과수익률: {why}", None, None,
                        0 if band is None else band.n, p, index)
    text = (f"예상 {settings.label_horizon}일 초과수익률 {band.mean_excess * 100:+.1f}% "
            f"(과거 같은 등급 종목 {band.hit_rate * 100:.0f}%가 시장을 이김, 표본 {band.n:,})")
    if not table.is_record:
        text += f" · {short_record_note(table)}"
    return Headline(call, text, band.mean_excess, band.hit_rate, band.n, p, band.index)


def short_record_note(table: CalibrationTable) -> str:
    """What a number read from a table shorter than the two-year record rests on, said with it."""
    days = table.source.get("days")
    span = f"최근 {days}거래일" if days else "짧은 기간"
    return f"{span} 검증 기준 · 2년 기록 아님"


def no_basket_reason(settings: Settings, table: CalibrationTable | None) -> str | None:
    """Why a day publishes no 매수 basket: the record's top band did not beat the buyable universe out of
    sample, so no name is a 매수 call (:func:`call_for`); None when the top band beat it, or nothing measured it
    yet (the calls then fall back to the band alone)."""
    if table is None or table.horizon != settings.label_horizon or not table.top.reliable:
        return None
    if table.top.mean_excess > 0:
        return None
    span = (f"{table.source.get('first_day')}~{table.source.get('last_day')} 검증 기록"
            if table.is_record else short_record_note(table))
    return (f"오늘은 매수 바스켓이 없습니다: 점수 최상위 등급이 매수 가능 종목 평균을 이기지 못했습니다 "
            f"({span}, 예상 {settings.label_horizon}일 초과수익률 {table.top.mean_excess * 100:+.1f}%).")


def day_headlines(settings: Settings, table: CalibrationTable | None, scores: np.ndarray) -> list[Headline]:
    """Headlines of every name of one day from its ensemble scores — e.g. the stored ``signals.score`` of a
    date, all of them: the percentile is taken over that day's scored names, as :func:`predict_day` does."""
    from kstock.ml.ensemble import daily_percentile

    percentile = daily_percentile(np.asarray(scores, dtype=float)[:, None])[:, 0]
    return [headline(settings, table, float(p)) for p in percentile]


def rank_text(percentile: float) -> str:
    """A score percentile as Korean investors say it: '상위 8%' / '하위 5%'."""
    if percentile >= 0.5:
        return f"상위 {max(1, round((1 - percentile) * 100))}%"
    return f"하위 {max(1, round(percentile * 100))}%"
