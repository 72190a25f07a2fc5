"""What each band of the score has meant out of sample — the table behind every headline (DESIGN §7).

The served score is turned into its daily cross-sectional percentile and cut into ten bands (deciles).
For every band the table keeps, from **out-of-sample predictions only** (walk-forward test blocks, or
a model's validation window it was not trained on):

* ``mean_return`` — the mean ``horizon``-day return a subscriber who acted on the signal got: buy at
  the open of t+1, sell at the open of t+1+horizon (halts carried at the last open, as the backtest
  values them), commission on both sides and the sell tax in force on the day of the sale deducted;
* ``mean_excess`` — that return minus the same-day return of the equal-weighted buyable universe
  bought and sold the same way (same costs), so the number is what the band added over "buy
  everything";
* ``hit_rate`` — the share of samples that beat that universe; ``n`` — how many (ticker, day) samples.

Only names that could be bought on the day count (:func:`buyable_on`: the shared buyable-at-close rule
and an open on t+1 not at the upper limit). The call is read from the same band (:func:`call_for`), so a
BUY never carries a worse number than a SELL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kstock.features.labels import cross_sectional_rank
from kstock.market.krx import COMMISSION, sell_tax_array
from kstock.market.tradability import buyable_at_close, execution, shift_left
from kstock.market.types import Panel

N_BANDS = 10
#: A band with fewer samples than this says "not enough history" instead of a number.
MIN_BAND_SAMPLES = 100
#: The served table is the long out-of-sample record: at least this many years of predictions (DESIGN §7) —
#: a 60-day window can invert in one rally (kospi 2026: D1 +0.47 % … D10 -0.25 %, against D10 +0.46 % over
#: four years).
RECORD_YEARS = 2.0
#: The backtest's record (:func:`buy_calls_then`): the last this many trading days of predictions (two years).
RECORD_WINDOW_DAYS = 504


@dataclass(frozen=True)
class Band:
    """One decile of the day's score percentile and what it meant out of sample."""

    index: int  # 0 = the day's lowest 10 % of scores … 9 = the highest 10 %
    lo: float  # percentile range [lo, hi)
    hi: float
    mean_return: float  # net round trip, open t+1 → open t+1+horizon (NaN when n == 0)
    mean_excess: float  # over the equal-weighted buyable universe of the same day
    hit_rate: float  # share of samples whose return beat that universe
    n: int

    @property
    def reliable(self) -> bool:
        return self.n >= MIN_BAND_SAMPLES and bool(np.isfinite(self.mean_excess))


@dataclass(frozen=True)
class CalibrationTable:
    """The ten bands of one model (or the ensemble), with where the samples came from."""

    horizon: int
    bands: tuple[Band, ...]
    source: dict[str, Any] = field(default_factory=dict)  # kind, model, first_day, last_day, days

    @property
    def n(self) -> int:
        return sum(b.n for b in self.bands)

    @property
    def years(self) -> float:
        """Calendar years from the first to the last out-of-sample day it rests on (0 when unknown)."""
        first, last = self.source.get("first_day"), self.source.get("last_day")
        if not first or not last:
            return 0.0
        return float((np.datetime64(str(last), "D") - np.datetime64(str(first), "D")).astype(int)) / 365.25

    @property
    def is_record(self) -> bool:
        """Whether it is the long record (≥ :data:`RECORD_YEARS`) a served number must rest on."""
        return self.years >= RECORD_YEARS

    @property
    def top(self) -> Band:
        """The top band — the 매수 calls' number."""
        return self.bands[N_BANDS - 1]

    def band_for(self, percentile: float) -> Band:
        """The band of a score percentile in [0, 1] (1.0 falls in the top band)."""
        return self.bands[band_index(percentile)]

    def as_dict(self) -> dict[str, Any]:
        """The stored form; ``years`` and ``is_record`` say how long a record it is (read back from ``source``)."""
        return {"horizon": self.horizon, "source": dict(self.source), "years": round(self.years, 2),
                "is_record": self.is_record, "bands": [asdict(b) for b in self.bands]}

    @classmethod
    def from_dict(cls, raw: Any) -> CalibrationTable | None:
        """The table stored in a registry meta.json, or None when absent or unreadable (→ no headline)."""
        try:
            bands = tuple(Band(**{k: b[k] for k in Band.__dataclass_fields__}) for b in raw["bands"])
            if len(bands) != N_BANDS:
                return None
            return cls(int(raw["horizon"]), bands, dict(raw.get("source") or {}))
        except (KeyError, TypeError, ValueError):
            return None

    def rows(self) -> list[dict[str, Any]]:
        """One dict per band, for JSON reports and the CLI table."""
        return [asdict(b) for b in self.bands]


def band_index(percentile: float | np.ndarray) -> np.ndarray | int:
    """Decile of a percentile in [0, 1]: 0 … 9 (vectorised; NaN → -1)."""
    p = np.asarray(percentile, dtype=float)
    idx = np.where(np.isfinite(p), np.clip(np.floor(np.nan_to_num(p) * N_BANDS), 0, N_BANDS - 1), -1).astype(int)
    return int(idx) if idx.ndim == 0 else idx


def call_for(table: CalibrationTable | None, percentile: float) -> str:
    """BUY / HOLD / SELL from the band: the top band is a BUY only where it has beaten the universe out of
    sample, the bottom band a SELL only where it has lagged it — so a BUY's number is always above a SELL's.

    Without a (reliable) table the call falls back to the band alone: top decile BUY, bottom decile SELL.
    """
    if not np.isfinite(percentile):
        return ""
    idx = band_index(percentile)
    if idx not in (0, N_BANDS - 1):
        return "HOLD"
    band = table.bands[idx] if table is not None else None
    if band is None or not band.reliable:
        return "BUY" if idx == N_BANDS - 1 else "SELL"
    if idx == N_BANDS - 1:
        return "BUY" if band.mean_excess > 0 else "HOLD"
    return "SELL" if band.mean_excess < 0 else "HOLD"


def calls_for(table: CalibrationTable | None, percentile: np.ndarray) -> np.ndarray:
    """:func:`call_for` over an array of percentiles ("" where NaN), vectorised: the whole market's calls
    are one band lookup (a loop of ``call_for`` took ~30 ms for 2,761 names)."""
    idx = band_index(np.asarray(percentile, dtype=float))
    idx = np.atleast_1d(idx)
    out = np.where(idx < 0, "", "HOLD").astype(object)
    for end in (0, N_BANDS - 1):  # only the two end bands can be anything but HOLD
        out[idx == end] = call_for(table, (end + 0.5) / N_BANDS)
    return out.reshape(np.shape(percentile))


def markdown(table: CalibrationTable, title: str = "") -> str:
    """The table as Markdown rows (the CLI's evaluate output and docs/models.md)."""
    rows = [f"{title}\n" if title else "",
            f"| 10분위 | 비용 차감 {table.horizon}일 평균 수익 | 평균 초과수익 | 시장 대비 적중률 | 표본 |",
            "|---|---|---|---|---|"]
    for b in table.bands:
        rows.append(f"| D{b.index + 1} | {_pct(b.mean_return)} | {_pct(b.mean_excess)} | "
                    f"{'-' if not np.isfinite(b.hit_rate) else f'{b.hit_rate * 100:.1f}%'} | {b.n:,} |")
    return "\n".join(r for r in rows if r)


def _pct(x: float) -> str:
    return f"{x * 100:+.2f}%" if np.isfinite(x) else "-"


# -- measuring -------------------------------------------------------------------------------------------
def round_trip_returns(panel: Panel, horizon: int, commission: float = COMMISSION) -> np.ndarray:
    """(N, T) net return of a signal decided on day t: buy at t+1's open, sell at the open of t+1+horizon.

    Opens are carried over halts (a halted name is valued at its last open, as the backtest does), the
    buy pays ``commission``, the sale ``commission`` plus the sell tax in force on the sale day. NaN where
    the panel has no open on t+1 or ends before t+1+horizon.
    """
    ex = execution(panel)
    entry = np.where(ex.opens_next, shift_left(ex.open_ff, 1, np.nan), np.nan)
    exit_ = shift_left(ex.open_ff, 1 + horizon, np.nan)
    n_days = len(panel.dates)
    sale_days = np.concatenate([panel.dates[1 + horizon:], np.repeat(panel.dates[-1:], min(n_days, 1 + horizon))])
    tax = sell_tax_array(np.asarray(sale_days, dtype="datetime64[D]")) if n_days else np.empty(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gross = exit_ / entry - 1.0
    return (1.0 + gross) * (1.0 - commission) * (1.0 - commission - tax[None, :]) - 1.0


def buyable_on(panel: Panel, universe: np.ndarray, min_traded_value: float) -> np.ndarray:
    """(N, T) names a subscriber could buy on a signal from day t (the backtest's candidates)."""
    return buyable_at_close(panel, universe, min_traded_value) & execution(panel).enterable


def build_table(
    score: np.ndarray,
    panel: Panel,
    universe: np.ndarray,
    days: np.ndarray,
    *,
    horizon: int,
    min_traded_value: float,
    source: dict[str, Any] | None = None,
) -> CalibrationTable:
    """The band table of ``score`` (N, T) over the day indices ``days``.

    ``score`` must hold out-of-sample predictions on ``days`` (the caller's promise: walk-forward test
    blocks or a validation window after the training data). Each day's percentile is taken over every
    name the model scored that day — the cross-section it is served on — and only buyable names with a
    measurable round trip enter the table.
    """
    days = np.asarray(days, dtype=int)
    pct = cross_sectional_rank(np.asarray(score, dtype=float)[:, days])
    ret = round_trip_returns(panel, horizon)[:, days]
    buyable = buyable_on(panel, universe, min_traded_value)[:, days] & np.isfinite(ret)
    with np.errstate(invalid="ignore"):
        market = np.where(buyable.any(axis=0), np.where(buyable, ret, 0.0).sum(axis=0) / np.maximum(buyable.sum(0), 1),
                          np.nan)
    ok = buyable & np.isfinite(pct)
    band = band_index(np.where(ok, pct, np.nan))
    excess = ret - market[None, :]
    bands = []
    for i in range(N_BANDS):
        sel = ok & (band == i)
        n = int(sel.sum())
        bands.append(Band(i, i / N_BANDS, (i + 1) / N_BANDS, _mean(ret[sel]), _mean(excess[sel]),
                          _mean((excess[sel] > 0).astype(float)), n))
    used = days[ok.any(axis=0)]
    info = {"days": int(used.size), "first_day": str(panel.dates[used[0]]) if used.size else None,
            "last_day": str(panel.dates[used[-1]]) if used.size else None, **(source or {})}
    return CalibrationTable(horizon, tuple(bands), info)


def buy_calls_then(score: np.ndarray, panel: Panel, universe: np.ndarray, *, horizon: int, min_traded_value: float,
                   window: int = RECORD_WINDOW_DAYS) -> np.ndarray:
    """(N, T) the 매수 calls of each day as the live book would have read them then: the top band of the day's
    score percentile, on days when the record known at that close — the last ``window`` days of ``score``
    (out of sample wherever finite) whose round trip (open t+1 → open t+1+horizon) had ended — shows the
    top band beating the buyable universe, or is too thin to say (as :func:`call_for` without a table).

    The band, the universe and the costs are :func:`build_table`'s, day by day.
    """
    score = np.asarray(score, dtype=float)
    pct = cross_sectional_rank(score)
    ret = round_trip_returns(panel, horizon)
    buyable = buyable_on(panel, universe, min_traded_value) & np.isfinite(ret)
    with np.errstate(invalid="ignore"):
        market = np.where(buyable, ret, 0.0).sum(axis=0) / np.maximum(buyable.sum(axis=0), 1)
    top = band_index(np.where(np.isfinite(pct), pct, np.nan)) == N_BANDS - 1
    counted = buyable & top
    day_sum = np.where(counted, ret - market[None, :], 0.0).sum(axis=0)
    day_n = counted.sum(axis=0)
    cum_sum, cum_n = np.concatenate([[0.0], np.cumsum(day_sum)]), np.concatenate([[0], np.cumsum(day_n)])
    t = np.arange(score.shape[1])
    hi = t - horizon - 1  # the last decision day whose round trip had ended by day t's close
    lo = np.maximum(hi - window + 1, 0)
    known = hi >= 0
    total = np.where(known, cum_sum[np.clip(hi + 1, 0, None)] - cum_sum[lo], 0.0)
    n = np.where(known, cum_n[np.clip(hi + 1, 0, None)] - cum_n[lo], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        record_ok = (n < MIN_BAND_SAMPLES) | (total / np.maximum(n, 1) > 0)
    return top & record_ok[None, :]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def tables_of(report: dict[str, Any]) -> dict[str, CalibrationTable]:
    """The band tables an evaluation report holds, by model (models without one are skipped)."""
    out = {}
    for name, model in report.get("models", {}).items():
        table = CalibrationTable.from_dict(model.get("calibration"))
        if table is not None:
            out[name] = table
    return out
