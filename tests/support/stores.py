"""Helpers shared by the store, CSV-import and CLI tests (not a test module)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

#: Tables that hold market data (``data_updates`` is the log of attempts, which a successful re-import extends).
DATA_TABLES = ("tickers", "prices", "index_prices")


def store_checksum(path: Path, tables: tuple[str, ...] | None = None) -> str:
    """A hash of every row of every table (or of ``tables``); '' when the file does not exist.

    Read through a read-only connection, so taking the checksum never changes the store.
    """
    path = Path(path)
    if not path.exists():
        return ""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if tables is None or r[0] in tables
        ]
        digest = hashlib.sha256()
        digest.update(str(conn.execute("PRAGMA user_version").fetchone()[0]).encode())
        for name in names:
            digest.update(name.encode())
            for row in conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2"):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def data_checksum(path: Path) -> str:
    return store_checksum(path, DATA_TABLES)


def price_frame(code: str, start: str, n: int, base: float = 10_000.0, step: float = 100.0) -> pd.DataFrame:
    """``n`` consecutive business days of clean prices for one code (long format)."""
    dates = pd.bdate_range(start, periods=n)
    close = base + step * np.arange(n)
    return pd.DataFrame(
        {
            "code": code,
            "date": dates,
            "open": close - 50,
            "high": close + 100,
            "low": close - 100,
            "close": close,
            "volume": 1_000.0 + np.arange(n),
        }
    )


def write_pykrx_csv(path: Path, frame: pd.DataFrame, bom: bool = True) -> Path:
    """Write a frame from :func:`price_frame` in the pykrx dialect (Korean header, optional UTF-8 BOM)."""
    out = pd.DataFrame(
        {
            "날짜": pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"),
            "시가": frame["open"].astype(int),
            "고가": frame["high"].astype(int),
            "저가": frame["low"].astype(int),
            "종가": frame["close"].astype(int),
            "거래량": frame["volume"].astype(int),
            "등락률": frame["close"].pct_change().fillna(0) * 100,
        }
    )
    path.write_text(("\ufeff" if bom else "") + out.to_csv(index=False), encoding="utf-8")
    return path


def write_fdr_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a frame from :func:`price_frame` in the FinanceDataReader dialect."""
    out = pd.DataFrame(
        {
            "Date": pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"),
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
            "Volume": frame["volume"].astype(int),
            "Change": frame["close"].pct_change().fillna(0),
        }
    )
    out.to_csv(path, index=False)
    return path
