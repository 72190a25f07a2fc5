"""Plain data types shared by the store, the sources and everything that reads market data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd


class InstrumentKind(StrEnum):
    """What a listed code *is*. Only COMMON stocks are scored (DESIGN §2)."""

    COMMON = "common"
    PREFERRED = "preferred"
    ETF = "etf"
    ETN = "etn"
    SPAC = "spac"
    REIT = "reit"
    FUND = "fund"  # infrastructure funds, ship/aircraft investment companies, other 투자회사/집합투자 vehicles


class Market(StrEnum):
    KOSPI = "KOSPI"
    KOSDAQ = "KOSDAQ"


@dataclass(frozen=True)
class Ticker:
    """One listed instrument as the store keeps it."""

    code: str
    name: str
    market: str
    kind: InstrumentKind = InstrumentKind.COMMON
    sector_id: int | None = None  # None = unknown (kept explicit, never a default bucket)
    listing_date: str | None = None  # ISO date
    delisting_date: str | None = None
    name_en: str | None = None


#: Column order of ``Panel.ohlcv``'s last axis.
PANEL_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
OPEN, HIGH, LOW, CLOSE, VOLUME = range(5)


@dataclass
class Panel:
    """The price panel as dense arrays: tickers × days × OHLCV.

    Days on which a ticker did not trade (halts, before listing, after delisting) are NaN in every
    field, so no model ever mistakes a carried-forward close for a price. ``halted`` marks the days
    that were explicit halt rows in the source (as opposed to simply absent).
    """

    codes: list[str]
    dates: np.ndarray  # datetime64[D], ascending, the union of stored trading days
    ohlcv: np.ndarray  # float64 (n_tickers, n_days, 5), NaN = no trade
    halted: np.ndarray  # bool (n_tickers, n_days)
    sector_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # -1 = unknown

    @property
    def close(self) -> np.ndarray:
        return self.ohlcv[:, :, CLOSE]

    @property
    def traded(self) -> np.ndarray:
        """True where the ticker has a real price that day."""
        return ~np.isnan(self.ohlcv[:, :, CLOSE])

    def index_of(self, code: str) -> int:
        return self.codes.index(code)

    def date_index(self, day: str | np.datetime64) -> int:
        """Position of ``day`` in ``dates``; raises KeyError when it is not a stored trading day."""
        d = np.datetime64(day, "D")
        i = int(np.searchsorted(self.dates, d))
        if i >= len(self.dates) or self.dates[i] != d:
            raise KeyError(str(d))
        return i

    def frame(self, code: str) -> pd.DataFrame:
        """One ticker's rows as a DataFrame indexed by date (NaN rows kept)."""
        i = self.index_of(code)
        return pd.DataFrame(self.ohlcv[i], index=pd.DatetimeIndex(self.dates), columns=list(PANEL_FIELDS))


@dataclass
class MarketData:
    """A batch of market data from any source, ready to be ingested by the store.

    ``prices`` is long format with columns code, date (datetime64 or ISO string), open, high, low,
    close, volume; halt rows may be given as in the source (open=high=low=0, volume=0).
    ``indices`` maps an index name ("KOSPI", "KOSDAQ") to a frame with date and close (open/high/low
    optional).
    """

    tickers: list[Ticker]
    prices: pd.DataFrame
    indices: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class UpdateReport:
    """What a data update did (any source), in a form the CLI prints and the bot's /status shows."""

    ok: bool
    tickers_updated: int = 0
    rows_changed: int = 0
    message: str = ""
    data_last_date: str | None = None  # last stored trading day after the update (ISO)
    data_age_days: int | None = None  # calendar days between that day and today (KST)
    warnings: list[str] = field(default_factory=list)
