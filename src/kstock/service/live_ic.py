"""The live record watches the model (DESIGN §8): each published day's Rank IC beside what was expected.

Once a published day's horizon has passed, its live Rank IC is measured over every name scored that day
(the stored ``signals.score``, the ensemble score the calls came from) against the return a follower
captures — bought at the next open, sold at the open ``horizon`` days later
(:func:`~kstock.ml.evaluation.calibration.round_trip_returns`, the backtest's and the ledger's return).
The prices of a measured day do not change, so the series is measured from the store whenever it is
asked for, like the rest of the ledger.

Beside it: the expected range, from the serving model's stored out-of-sample record of the same
statistic (``meta["ic_record"]``, :mod:`kstock.ml.evaluation.ic_record`) — the ensemble's walk-forward
when every member it weighs serves, otherwise the record of the member with the largest weight (the
same choice :func:`kstock.service.headline.serving_table` makes for the band table). With no record
stored there is no range ("기대 범위 없음"), never an invented one. The rolling ``WINDOW``-day mean
below the record's 5th percentile of such windows is "low": :mod:`kstock.bot.model_watch` tells admins
once when it falls there and once when it recovers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kstock.market.dates import day_int, iso
from kstock.market.repositories import book as book_table
from kstock.market.repositories import signals as signals_table
from kstock.ml.evaluation import metrics as mt
from kstock.ml.evaluation.calibration import round_trip_returns
from kstock.ml.evaluation.ic_record import WINDOW, expected_range, rolling_means
from kstock.service.context import Services

NO_RANGE = "기대 범위 없음"
#: Calendar days of prices loaded before the first measured day (only its next open is needed).
LOOKBACK_DAYS = 10


@dataclass
class LiveIC:
    """The live Rank IC of every measured published day, its rolling mean and the expected range."""

    horizon: int
    window: int
    series: list[dict[str, Any]] = field(default_factory=list)  # date, rank_ic, names, rolling
    rolling: float | None = None  # the mean of the last ``window`` measured days (None with fewer)
    expected: dict[str, Any] | None = None  # mean, low, high, window, days, kind, model (None: no record)
    pending_days: int = 0  # published days whose horizon has not passed yet

    @property
    def status(self) -> str:
        """``low`` (rolling mean below the expected range), ``ok``, or ``unknown`` (no range or too few days)."""
        if self.rolling is None or self.expected is None:
            return "unknown"
        return "low" if self.rolling < self.expected["low"] else "ok"

    @property
    def last_day(self) -> str | None:
        return self.series[-1]["date"] if self.series else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status, "last_day": self.last_day}


def live_ic(services: Services, since: str | None = None) -> LiveIC:
    """The live Rank IC series of the published days since ``since`` (all when None)."""
    horizon = services.settings.label_horizon
    out = LiveIC(horizon, WINDOW, expected=serving_expectation(services))
    published = [int(d) for d, _ in book_table.published(services.store, day_int(since) if since else 0)]
    if not published:
        return out
    first = np.datetime64(iso(published[0]), "D") - np.timedelta64(LOOKBACK_DAYS, "D")
    panel = services.store.load_panel(start=str(first))
    if len(panel.dates) <= 1 + horizon:  # no published day can have run its course yet
        out.pending_days = len(published)
        return out
    net = round_trip_returns(panel, horizon)
    index = {code: i for i, code in enumerate(panel.codes)}
    position = {int(day_int(d)): t for t, d in enumerate(panel.dates)}
    for day in published:
        t = position.get(day)
        if t is None or t + 1 + horizon >= len(panel.dates):
            out.pending_days += 1
            continue
        value, names = _day_ic(services, day, net[:, t], index)
        out.series.append({"date": iso(day), "rank_ic": value, "names": names})
    values = np.array([s["rank_ic"] for s in out.series if s["rank_ic"] is not None], dtype=float)
    means = rolling_means(values, WINDOW)
    if means.size:
        out.rolling = float(means[-1])
    _mark_rolling(out.series, WINDOW)
    return out


def _day_ic(services: Services, day: int, returns: np.ndarray, index: dict[str, int]) -> tuple[float | None, int]:
    """Rank IC of ``day``'s stored scores against the names' next-open round trips, and how many names."""
    score = np.full(returns.shape, np.nan)
    for code, value in signals_table.scores(services.store, day):
        i = index.get(code)
        if i is not None:
            score[i] = value
    names = int((np.isfinite(score) & np.isfinite(returns)).sum())
    ic = mt.daily_rank_ic(score[:, None], returns[:, None])[0]
    return (float(ic) if np.isfinite(ic) else None), names


def _mark_rolling(series: list[dict[str, Any]], window: int) -> None:
    """Each measured day's rolling mean of the last ``window`` measured days (None before there are that many)."""
    values: list[float] = []
    for row in series:
        if row["rank_ic"] is not None:
            values.append(row["rank_ic"])
        row["rolling"] = float(np.mean(values[-window:])) if len(values) >= window else None


def serving_expectation(services: Services) -> dict[str, Any] | None:
    """The expected range of the served score's live IC, from the serving versions' stored records."""
    from kstock.service.serving import ensemble_weights

    weights = ensemble_weights(services)
    serving = [name for name, s in services.all_serving().items() if s.model is not None]
    weighed = {name for name, w in weights.items() if w > 0}
    candidates = []
    if weighed and weighed <= set(serving):
        candidates.append(("ensemble", services.registry.current("ensemble")))
    for name in sorted((n for n in serving if weights.get(n, 0) > 0), key=lambda n: -weights[n]):
        candidates.append((name, services.registry.current(name)))
    for name, version in candidates:
        found = expected_range(version.meta.get("ic_record")) if version is not None else None
        if found is not None:
            return {**found, "model": name, "version": version.version}
    return None


def range_text(expected: dict[str, Any] | None) -> str:
    """'기대 범위 +0.010 ~ +0.085 (20일 평균, 검증 기록 5~95%)' — or that there is none."""
    if expected is None:
        return NO_RANGE
    return (f"기대 범위 {expected['low']:+.3f} ~ {expected['high']:+.3f} "
            f"({expected['window']}거래일 평균, 검증 기록의 5~95%, 일평균 {expected['mean']:+.3f})")
