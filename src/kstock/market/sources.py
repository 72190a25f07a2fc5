"""The configured data source (``KSTOCK_DATA_SOURCE``) behind one small interface, and each source's clock.

Every source answers two questions for the daily loop: *fetch what the store lacks* (:meth:`update`) and
*which trading day is today* (:meth:`today`) — the day the loop scores and the day staleness is measured
against.

* ``pykrx`` — KRX through pykrx (login, incremental by date); today is the latest KRX session whose bar is
  final in Seoul time (16:00 KST or later on a trading day, else the session before).
* ``csv`` — a drop folder (``KSTOCK_CSV_DIR``) of one ``<code>.csv`` per ticker in the pykrx or
  FinanceDataReader dialect, re-imported on each update: rows already stored are left alone, only new
  or changed ones are written. Today is as for pykrx.
* ``synthetic`` — the embedded market on a simulated clock (DESIGN §7): the store remembers how it was
  generated, the generator has run a year past the stored history, and each update reveals the next
  generated trading day, which becomes today. The demo and the tests run many days of the live loop
  this way, never stale, with no network.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from kstock.market.calendar import TradingCalendar
from kstock.market.freshness import as_date, data_age, describe_age, last_final_day, seoul_now
from kstock.market.repositories import meta
from kstock.market.row_checks import require_sane
from kstock.market.types import MarketData, UpdateReport

if TYPE_CHECKING:
    from kstock.config import Settings
    from kstock.market.store import MarketStore

log = logging.getLogger(__name__)

SYNTHETIC_META_KEY = "synthetic_market"
#: How far past the stored history the synthetic generator runs: the loop can advance this many days.
SYNTHETIC_FUTURE_YEARS = 1.0
DEFAULT_SYNTHETIC_END = "2025-06-30"


class DataSource(Protocol):
    name: str

    def update(self, store: MarketStore, *, progress: bool = True) -> UpdateReport: ...

    def today(self, store: MarketStore, now: dt.datetime | None = None) -> dt.date: ...


def current_trading_day(now: dt.datetime | None = None, calendar: TradingCalendar | None = None) -> dt.date:
    """The latest KRX session whose daily bar is final at ``now`` (Seoul time)."""
    calendar = calendar or TradingCalendar(np.empty(0, dtype="datetime64[D]"))
    day = last_final_day(now or seoul_now())
    while not calendar.is_trading_day(day):
        day -= dt.timedelta(days=1)
    return day


def source_from_settings(settings: Settings) -> DataSource:
    """The source ``KSTOCK_DATA_SOURCE`` names."""
    if settings.data_source == "pykrx":
        from kstock.market.pykrx_source import PykrxSource

        return _PykrxAdapter(PykrxSource.from_settings(settings))
    if settings.data_source == "csv":
        return CsvDropSource(settings.csv_dir)
    return SyntheticSource()


@dataclass
class _PykrxAdapter:
    """PykrxSource with the loop's clock; updates to the current trading day."""

    source: object
    name: str = "pykrx"

    def update(self, store: MarketStore, *, progress: bool = True) -> UpdateReport:
        return self.source.update(store, progress=progress)  # type: ignore[attr-defined]

    def today(self, store: MarketStore, now: dt.datetime | None = None) -> dt.date:
        return current_trading_day(now, TradingCalendar.from_store(store))


@dataclass
class CsvDropSource:
    """A folder users (or a cron job of theirs) drop per-ticker CSV files into."""

    folder: Path | None
    name: str = "csv"

    def update(self, store: MarketStore, *, progress: bool = True) -> UpdateReport:
        from kstock.market.csv_import import CsvImportError, import_directory

        if self.folder is None:
            return _failed(store, "csv", "KSTOCK_CSV_DIR가 설정되지 않았습니다 (CSV 드롭 폴더 경로)")
        try:
            report = import_directory(store, Path(self.folder), progress=progress)
        except CsvImportError as exc:
            return _failed(store, "csv", str(exc))
        last, age = data_age(store)
        message = (f"csv: 파일 {report.files_ok}개, 새로 쓰거나 바뀐 행 {report.rows_changed:,}개; "
                   f"데이터 {describe_age(store)}")
        warnings = [f"{name}: {reason}" for name, reason in report.bad_files] + list(report.warnings)
        return UpdateReport(report.files_ok > 0, report.files_ok, report.rows_changed, message, last, age, warnings)

    def today(self, store: MarketStore, now: dt.datetime | None = None) -> dt.date:
        return current_trading_day(now, TradingCalendar.from_store(store))


def _failed(store: MarketStore, source: str, reason: str) -> UpdateReport:
    last, age = data_age(store)
    fallback = (f"저장된 데이터로 계속 제공합니다: {describe_age(store)}" if last
                else "대신 쓸 저장된 시장 데이터도 없습니다")
    message = f"{reason}; {fallback}"
    store.log_update(source, 0, "failed", message)
    return UpdateReport(False, 0, 0, message, last, age)


# ---- the synthetic market on its simulated clock --------------------------------------------------------

@dataclass(frozen=True)
class SyntheticSpec:
    """How a synthetic store was generated, and how far its clock has run (kept in the store's meta)."""

    n_tickers: int
    years: float
    seed: int
    present: str  # the last day of the stored history at creation (ISO)
    today: str  # the last revealed day (ISO)

    @property
    def generation(self) -> tuple[int, float, int, str]:
        """generate_market arguments: the history plus a year of future days, ending a year after present."""
        end = as_date(self.present) + dt.timedelta(days=round(SYNTHETIC_FUTURE_YEARS * 365.25))
        return self.n_tickers, self.years + SYNTHETIC_FUTURE_YEARS, self.seed, end.isoformat()


@lru_cache(maxsize=2)
def _generated(n_tickers: int, years: float, seed: int, end: str) -> MarketData:
    from kstock.market.synthetic import generate_market

    return generate_market(n_tickers=n_tickers, years=years, seed=seed, end=end)


def _until(data: MarketData, first: str | None, last: str) -> MarketData:
    """The rows of ``data`` dated in (first, last]; a price row that breaks the market's row rule is the
    generator's fault and raises (:func:`require_sane`), never reaches the store."""
    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        dates = pd.to_datetime(frame["date"])
        keep = dates <= pd.Timestamp(last)
        if first is not None:
            keep &= dates > pd.Timestamp(first)
        return frame.loc[keep].reset_index(drop=True)

    return MarketData(data.tickers, require_sane(cut(data.prices), "synthetic"),
                      {k: cut(v) for k, v in data.indices.items()})


def synthesize_store(store: MarketStore, n_tickers: int = 100, years: float = 3.0, seed: int = 7,
                     present: str = DEFAULT_SYNTHETIC_END) -> tuple[MarketData, int]:
    """Fill ``store`` with ``years`` of synthetic history ending at ``present``; its clock starts there.

    Returns the market (its tickers and stored indices; the prices went to the store a slice at a time,
    ``prices`` is empty) and the number of rows changed.
    """
    from kstock.market.synthetic import write_market

    spec = SyntheticSpec(n_tickers, years, seed, present, present)
    history, _rows, changed = write_market(store, *spec.generation, source=f"synthetic:seed={seed}", until=present)
    _save_spec(store, spec)
    return history, changed


def _save_spec(store: MarketStore, spec: SyntheticSpec) -> None:
    """Note the spec (the clock included) in ``meta``: inside the caller's transaction when it holds one."""
    meta.put(store, SYNTHETIC_META_KEY, json.dumps(spec.__dict__))


def synthetic_spec(store: MarketStore) -> SyntheticSpec | None:
    """The spec a synthetic store was made with and its clock; None for a store the synthetic source did not
    make (or an unreadable note)."""
    value = meta.get(store, SYNTHETIC_META_KEY)
    if value is None:
        return None
    try:
        return SyntheticSpec(**json.loads(value))
    except (TypeError, ValueError):
        return None


def _day_after(data: MarketData, day: str) -> str | None:
    days = np.unique(pd.to_datetime(data.prices["date"]).to_numpy().astype("datetime64[D]"))
    later = days[days > np.datetime64(day, "D")]
    return str(later[0]) if later.size else None


class SyntheticSource:
    """The embedded market, advancing one generated trading day per update."""

    name = "synthetic"

    def update(self, store: MarketStore, *, progress: bool = True) -> UpdateReport:
        spec = synthetic_spec(store)
        if spec is None:
            return _failed(store, self.name, "이 저장소는 합성 시장으로 만들어지지 않았습니다 — `kstock data synth`로 "
                                             "새로 만들거나 KSTOCK_DATA_SOURCE를 pykrx/csv로 설정하세요")
        data = _generated(*spec.generation)
        day = _day_after(data, spec.today)
        if day is None:
            return _failed(store, self.name, f"합성 시장의 생성된 날짜가 {spec.today}에서 끝났습니다")
        with store.transaction():  # the day's rows and the clock's move: both or neither (a kill between
            # them once left the rows of a day the clock never reached, and the market stopped)
            changed = store.ingest(_until(data, spec.today, day), source=f"synthetic:seed={spec.seed}")
            _save_spec(store, SyntheticSpec(spec.n_tickers, spec.years, spec.seed, spec.present, day))
            last, age = data_age(store, day)
            message = f"합성 시장: {day} 하루치 {changed:,}행 추가; 데이터 {describe_age(store, day)}"
        log.info(message)
        return UpdateReport(True, len(data.tickers), changed, message, last, age)

    def revealed(self, store: MarketStore, day: str) -> bool:
        """Whether the clock has reached ``day`` (ISO): its rows are stored with the move, never apart."""
        spec = synthetic_spec(store)
        return spec is not None and spec.today >= day

    def next_day(self, store: MarketStore) -> str | None:
        """The generated trading day the next update reveals (None past the generated year or for other stores)."""
        spec = synthetic_spec(store)
        return None if spec is None else _day_after(_generated(*spec.generation), spec.today)

    def today(self, store: MarketStore, now: dt.datetime | None = None) -> dt.date:
        """The last revealed day; a store the synthetic source did not make runs on the real KRX clock."""
        spec = synthetic_spec(store)
        if spec is None:
            return current_trading_day(now, TradingCalendar.from_store(store))
        return as_date(spec.today)
