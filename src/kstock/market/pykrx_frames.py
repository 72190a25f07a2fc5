"""pykrx's frames → the store's rows, and what the store already holds: the pure half of the pykrx source.

:mod:`kstock.market.pykrx_source` fetches (throttled, retried, logged in); this module turns what came back
into English-column long frames, compares it with the stored history (new days? re-adjusted by Naver?)
and needs no network.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kstock.market.dates import iso
from kstock.market.store_reads import StoredRange

#: Stored vs. refetched close on the overlap day differing by more than this means Naver re-adjusted
#: the history (split, bonus issue, rights offering): the whole series is fetched again.
READJUST_TOLERANCE = 0.005
OHLCV_COLUMNS = {"시가": "open", "고가": "high", "저가": "low", "종가": "close", "거래량": "volume"}
INDEX_COLUMNS = {"시가": "open", "고가": "high", "저가": "low", "종가": "close"}


def krx_day(day: dt.date) -> str:
    """A date as pykrx takes it (``yyyymmdd`` text)."""
    return day.strftime("%Y%m%d")


def long_frame(raw: pd.DataFrame | None, columns: dict[str, str], first: dt.date, end: dt.date) -> pd.DataFrame:
    """A pykrx frame (Korean columns, date index) → date + English columns within [first, end]."""
    if raw is None or len(raw) == 0:
        return pd.DataFrame(columns=["date", *columns.values()])
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ValueError(f"pykrx frame lacks {', '.join(missing)} (has {', '.join(map(str, raw.columns))})")
    frame = raw[list(columns)].rename(columns=columns).apply(pd.to_numeric, errors="coerce")
    frame.insert(0, "date", pd.to_datetime(raw.index).normalize())
    keep = (frame["date"] >= pd.Timestamp(first)) & (frame["date"] <= pd.Timestamp(end)) & frame["close"].notna()
    return frame[keep].reset_index(drop=True)


def has_new_days(frame: pd.DataFrame, stored: StoredRange | None) -> bool:
    """Whether the fetched frame holds a day after the last stored one (counts the ticker as updated)."""
    if stored is None:
        return not frame.empty
    return bool((frame["date"] > pd.Timestamp(iso(stored.last))).any())


def readjusted(frame: pd.DataFrame, stored: StoredRange) -> bool:
    """Whether the source's close on the last stored day differs from the stored one (history re-based)."""
    overlap = frame.loc[frame["date"] == pd.Timestamp(iso(stored.last)), "close"]
    if overlap.empty or stored.last_close <= 0:
        return False
    return abs(float(overlap.iloc[0]) / stored.last_close - 1.0) > READJUST_TOLERANCE
