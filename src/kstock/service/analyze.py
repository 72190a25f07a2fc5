"""`analyze(query)`: one ticker's call with its probability, reasons, key days and chart.

Every bad input becomes a :class:`KstockError` subclass with a message a person can act on; the bot
and the CLI show that message as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kstock.errors import KstockError
from kstock.features.extra import EXTRA_FEATURE_LABELS
from kstock.features.tabular import FEATURE_LABELS
from kstock.market.dates import stored_day_index
from kstock.market.types import InstrumentKind, Ticker
from kstock.market.universe import printable
from kstock.ml.base import PredictionResult, Reason
from kstock.ml.data import ModelData
from kstock.ml.models import kind_notes, note_fields
from kstock.ml.registry import ModelVersion
from kstock.service.chart_data import chart_extras
from kstock.service.context import Services
from kstock.service.daily import signals_warning
from kstock.service.headline import Headline, headline
from kstock.service.model_age import model_age
from kstock.service.predict import DayPrediction, explain_day, predict_day
from kstock.service.stored_day import stored_prediction

KIND_KO = {InstrumentKind.ETF: "ETF", InstrumentKind.ETN: "ETN", InstrumentKind.PREFERRED: "우선주",
           InstrumentKind.SPAC: "스팩", InstrumentKind.REIT: "리츠", InstrumentKind.FUND: "펀드(투자회사)"}
MIN_HISTORY_DAYS = 60


class UnknownTickerError(KstockError):
    def __init__(self, message: str, suggestions: list[Ticker]) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class AmbiguousTickerError(KstockError):
    def __init__(self, message: str, candidates: list[Ticker], total: int | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates
        self.total = max(total or 0, len(candidates))  # every name that fitted, before the cut


class NotScorableError(KstockError):
    """An ETF, preferred share, SPAC, REIT or delisted stock: kstock scores listed common stocks."""


class NoPriceDataError(KstockError):
    """The ticker or the date has no usable price data."""

    #: What an admin can do about it (a shell command): shown to admins and in the CLI, never to users.
    admin_hint: str | None = None


@dataclass
class Analysis:
    ticker: Ticker
    result: PredictionResult
    close: float
    change_1d: float | None
    #: ``(frame, options)`` for :func:`kstock.charts.analysis.render_analysis_chart` when asked (``chart=True``):
    #: the service hands plain data, the caller draws
    chart: tuple[Any, dict[str, Any]] | None = None
    model_ages: dict[str, float | None] = field(default_factory=dict)
    headline: Headline | None = None  # the call's one number, from the band table (DESIGN §7)
    data_warning: str | None = None  # ⚠️ when the data is behind the source's current trading day
    model_warnings: dict[str, str] = field(default_factory=dict)  # model → ⚠️ line, past KSTOCK_MODEL_MAX_AGE


#: Trading days over which the traded value that orders ambiguous lookups is averaged.
POPULARITY_DAYS = 20
SHOWN_CANDIDATES = 5


def traded_value(services: Services, days: int = POPULARITY_DAYS) -> dict[str, float]:
    """code → average daily traded value (원) over the last ``days`` stored days: what a name people mean
    by "삼성" most likely is. Kept by the model data (:meth:`ModelData.traded_value`): once per data update."""
    try:
        data = services.model_data()
    except KstockError:  # no prices stored yet: names are still found, just not ordered by trading
        return {}
    return data.traded_value(days)


def resolve(services: Services, query: str) -> Ticker:
    """A query → one ticker, or a clear error with suggestions/candidates (the most traded first)."""
    result = services.ticker_index().resolve(query, traded_value(services))
    if result.match is not None:
        return result.match
    if result.candidates:
        total = max(result.total, len(result.candidates))
        names = ", ".join(f"{t.name}({t.code})" for t in result.candidates[:SHOWN_CANDIDATES])
        more = f" 외 {total - SHOWN_CANDIDATES}개" if total > SHOWN_CANDIDATES else ""
        shown = printable(query.strip())  # the query as typed, minus control characters (see `printable`)
        raise AmbiguousTickerError(f"'{shown}'에 해당하는 종목이 여러 개입니다 ({total}개): {names}{more}",
                                   result.candidates, total)
    raise UnknownTickerError(result.error or f"'{printable(query.strip())}': 종목을 찾을 수 없습니다.",
                             result.suggestions)


def analyze(services: Services, query: str, date: str | None = None, chart: bool = False) -> Analysis:
    ticker = resolve(services, query)
    _check_scorable(ticker)
    data = services.model_data(date)  # the recent window, or one ending on an older ``date``
    if ticker.code not in data.panel.codes:
        error = NoPriceDataError(f"{ticker.name}({ticker.code}): 저장된 가격 데이터가 없습니다.")
        error.admin_hint = "`kstock data update`로 받아 오세요."
        raise error
    i = data.panel.index_of(ticker.code)
    traded = ~np.isnan(data.panel.close[i])  # this ticker's row (Panel.traded builds the whole market's)
    day = _pick_day(data.dates, traded, ticker, date)
    history = int(traded[: day + 1].sum())
    if history < MIN_HISTORY_DAYS:
        raise NoPriceDataError(f"{ticker.name}({ticker.code}): 거래일이 {history}일뿐이라 분석할 수 없습니다 "
                               f"(최소 {MIN_HISTORY_DAYS}일 필요).")
    # a cold process answers from the day's stored scoring when it was made on this data with these models
    prediction = stored_prediction(services, data, day) or predict_day(services, day, data)
    result = _result_for(services, prediction, ticker, i, data)
    close = float(data.panel.close[i, day])
    prev = data.panel.close[i, :day][np.isfinite(data.panel.close[i, :day])]
    analysis = Analysis(ticker, result, close, float(close / prev[-1] - 1) if prev.size else None)
    percentile = None if prediction.percentile is None else float(prediction.percentile[i])
    analysis.headline = headline(services.settings, prediction.table, percentile)
    if date is None:  # the latest analysis must say when the latest data is not today's
        analysis.data_warning = signals_warning(services, result.date)
    versions = {n: services.registry.current(n) for n in prediction.versions}
    analysis.model_ages = {name: v.age_days() for name, v in versions.items() if v}
    analysis.model_warnings = _age_warnings(services, versions)
    if chart:
        analysis.chart = chart_request(services, ticker, day, result.label, data)
    return analysis


def _age_warnings(services: Services, versions: dict[str, ModelVersion | None]) -> dict[str, str]:
    """"⚠️ N거래일 전 데이터로 학습한 모델" for each model that made the call and is past its maximum age."""
    today = services.today()
    ages = [model_age(services, name, version, today) for name, version in sorted(versions.items())]
    return {a.name: a.warning for a in ages if a is not None and a.expired}


def _check_scorable(ticker: Ticker) -> None:
    if ticker.kind != InstrumentKind.COMMON:
        kind = KIND_KO.get(ticker.kind, str(ticker.kind))
        raise NotScorableError(f"{ticker.name}({ticker.code})은(는) {kind}입니다. 이 서비스는 보통주만 분석합니다.")
    if ticker.delisting_date:
        raise NotScorableError(f"{ticker.name}({ticker.code})은(는) {ticker.delisting_date}에 상장폐지되었습니다.")


def _pick_day(dates: np.ndarray, traded: np.ndarray, ticker: Ticker, date: str | None) -> int:
    label = f"{ticker.name}({ticker.code})"
    day = len(dates) - 1 if date is None else stored_day_index(dates, date, NoPriceDataError)
    if not traded[day]:
        last = np.flatnonzero(traded[: day + 1])
        since = f"; 마지막 거래일 {dates[last[-1]]}" if last.size else ""
        raise NoPriceDataError(f"{label}: {dates[day]}에 거래되지 않았습니다 (거래정지 등{since}).")
    return day


def _result_for(services: Services, pred: DayPrediction, ticker: Ticker, i: int,
                data: ModelData | None = None) -> PredictionResult:
    data = services.model_data() if data is None else data
    prob = pred.ensemble.probability[i, 0]
    score = pred.ensemble.score[i, 0]
    members = {name: None if out is None else
               {"probability": _num(out.probability[i, 0]), "score": _num(out.score[i, 0])}
               for name, out in pred.members.items()}
    # each kind's extras as its entry in the kinds table says (kstock.ml.models), in the table's order; their
    # values fill the seed's fields (lstm_key_days, sector_head) the entries name
    notes = kind_notes(pred.members, i, pred.day, data.dates, data.panel)
    result = PredictionResult(
        code=ticker.code, name=ticker.name, date=str(data.dates[pred.day]), probability=_num(prob),
        score=_num(score), label=str(pred.labels[i]) or "HOLD", model_versions=dict(pred.versions),
        members=members, unavailable=dict(pred.unavailable), **note_fields(notes),
    )
    result.shap_top3 = shap_reasons(services, pred, i, data)
    if notes:
        result.extras["notes"] = notes
    result.extras["weights"] = pred.weights
    return result


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def shap_reasons(services: Services, pred: DayPrediction, i: int, data: ModelData | None = None) -> list[Reason]:
    """Top three TreeSHAP contributions to the tree score, in words with the day's percentile."""
    data = services.model_data() if data is None else data
    explanation = explain_day(services, pred, data)
    if explanation is None:
        return []
    values, contrib = explanation.values, explanation.contributions[i]
    reasons = []
    for j in np.argsort(np.abs(contrib))[::-1][:3]:
        name = explanation.feature_names[j]
        pct = share_above(values[:, j], float(values[i, j]))
        reasons.append(Reason(name, float(values[i, j]), float(contrib[j]),
                              describe_feature(name, float(values[i, j]), pct, float(contrib[j]))))
    return reasons


def share_above(column: np.ndarray, value: float) -> float | None:
    """The share of the day's names with a higher value (0 = the top), or None where a rank says nothing: a
    missing value, or a column the same for every name — the market's own state (시장 20일 수익률) would
    otherwise read "상위 1%" for every stock."""
    finite = column[np.isfinite(column)]
    if not np.isfinite(value) or finite.size < 2 or finite.min() == finite.max():
        return None
    return float((finite > value).mean())


def describe_feature(name: str, value: float, top_share: float | None, contribution: float) -> str:
    """e.g. '20일 수익률 +12.0% (상위 5%) ↑' — the arrow says which way it pushed the score."""
    label, kind = FEATURE_LABELS[name] if name in FEATURE_LABELS else EXTRA_FEATURE_LABELS[name]
    if not np.isfinite(value):
        shown = "정보 없음"
    elif kind == "pct":
        shown = f"{value * 100:+.1f}%"
    elif kind == "level":  # a size, not a direction: no sign
        shown = f"{value * 100:.1f}%"
    elif kind == "ratio":
        shown = f"{value:.2f}배"
    elif kind == "logratio":  # stored as log(a / b): read as the ratio itself
        shown = f"{np.exp(value):.2f}배"
    elif kind == "share":  # a place or a share between 0 and 1 (0 = the bottom / none, 1 = the top / all)
        shown = f"{value * 100:.0f}%"
    elif kind == "won":
        shown = f"{np.expm1(value) / 1e8:,.0f}억원"
    else:
        shown = f"{value:.2f}"
    where = ""
    if top_share is not None:
        where = f" (상위 {max(1, round(top_share * 100))}%)" if top_share <= 0.5 else \
            f" (하위 {max(1, round((1 - top_share) * 100))}%)"
    return f"{label} {shown}{where} {'↑' if contribution >= 0 else '↓'}"


def chart_request(services: Services, ticker: Ticker, day: int, label: str,
                  data: ModelData | None = None) -> tuple[Any, dict[str, Any]]:
    """``(frame, keyword arguments)`` for :func:`kstock.charts.analysis.render_analysis_chart` — plain picklable
    data, so the bot can draw the picture in a worker process instead of holding the GIL."""
    data = services.model_data() if data is None else data
    frame = data.panel.frame(ticker.code).iloc[: day + 1]
    return frame, {"title": f"{ticker.name} ({ticker.code})", "signal": label, "signal_date": frame.index[-1],
                   **chart_extras(services.store, data, ticker.code, day)}
