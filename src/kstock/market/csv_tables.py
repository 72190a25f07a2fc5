"""The two side tables of a CSV import: the tickers file (names, markets, sectors) and an index series.

Apart from :mod:`kstock.market.csv_import` (one price file per ticker, checked row by row, and the import
that writes them together) so each reader is short. Both refuse a file they cannot use as a whole with a
:class:`CsvImportError` saying why, in Korean, before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kstock.errors import KstockError
from kstock.market.sectors import assign_sector, load_sector_file
from kstock.market.types import Ticker
from kstock.market.universe import classify_instrument

_INDEX_DIALECTS = {
    "pykrx": {"날짜": "date", "시가": "open", "고가": "high", "저가": "low", "종가": "close"},
    "fdr": {"Date": "date", "Open": "open", "High": "high", "Low": "low", "Close": "close"},
}


class CsvImportError(KstockError, ValueError):
    """The import as a whole cannot proceed (nothing was written); the message says why, and
    ``bad_files`` lists every rejected file with its reason when that was the cause."""

    def __init__(self, message: str, bad_files: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.bad_files = list(bad_files or [])


def read_tickers_file(path: Path, sectors_file: Path | None = None) -> tuple[list[Ticker], dict[str, str]]:
    """Tickers file shaped like ``tickers.csv`` (code, name, market, …) → tickers and 업종명 by code.

    Sector ids come from the KRX 업종명 in ``sectors_file`` when given, then from the file's own
    KSIC / WICS columns. Duplicate codes abort the import: which row is right cannot be guessed.
    """
    frame = _read_table(path, "종목 파일")
    missing = [c for c in ("code", "name", "market") if c not in frame.columns]
    if missing:
        raise CsvImportError(f"{path.name}: 열 {', '.join(missing)}이(가) 없습니다 (code,name,market,… 열이 "
                             "있어야 합니다)")
    blank = frame["code"].fillna("").str.strip().eq("") | frame["name"].fillna("").str.strip().eq("")
    if blank.any():
        raise CsvImportError(
            f"{path.name}: {int(blank.to_numpy().argmax()) + 2}행에 코드나 이름이 없습니다; 채우거나 지운 뒤 "
            "다시 시도하세요 (아무것도 가져오지 않았습니다)"
        )
    frame["code"] = frame["code"].str.strip().str.zfill(6)
    dups = frame["code"][frame["code"].duplicated()].unique()
    if len(dups):
        raise CsvImportError(
            f"{path.name}: 코드가 겹칩니다 ({', '.join(dups[:5])}); 코드마다 한 행만 두고 다시 시도하세요 "
            "(아무것도 가져오지 않았습니다)"
        )
    industries = _read_sector_file(Path(sectors_file)) if sectors_file else {}
    names = set(frame["name"].str.strip())
    tickers = [_ticker_from_row(row, industries, names) for row in frame.fillna("").to_dict("records")]
    return tickers, industries


def _read_sector_file(path: Path) -> dict[str, str]:
    """The KRX 업종 file as code → 업종명; a missing or wrong file stops the import (nothing written)."""
    if not path.is_file():
        raise CsvImportError(f"업종 파일 {path}이(가) 없습니다")
    try:
        return load_sector_file(path)
    except UnicodeDecodeError:
        raise CsvImportError(f"{path.name}: UTF-8 CSV로 읽을 수 없습니다 (아무것도 가져오지 않았습니다)") from None
    except ValueError as exc:
        raise CsvImportError(f"{exc} (아무것도 가져오지 않았습니다)") from None


def _ticker_from_row(row: dict, industries: dict[str, str], names: set[str]) -> Ticker:
    code, name = row["code"], row["name"].strip()
    market = row["market"].strip().upper()
    market = "KOSDAQ" if market.startswith("KOSDAQ") else market
    hints = {"kosdaq_dept": row.get("kosdaq_dept", ""), "ksic_industry": row.get("ksic_industry", ""),
             "wics_small": row.get("wics_small", ""), "listed_names": names}
    sector = assign_sector(
        krx_industry=industries.get(code) or None, ksic=row.get("ksic_industry") or None,
        wics_large=row.get("wics_large") or None, wics_medium=row.get("wics_medium") or None,
        wics_small=row.get("wics_small") or None,
    )
    return Ticker(
        code=code, name=name, market=market, kind=classify_instrument(code, name, market, hints),
        sector_id=sector, listing_date=row.get("listing_date") or None,
        delisting_date=row.get("delisting_date") or None, name_en=row.get("name_en") or None,
    )


def read_index_file(path: Path) -> pd.DataFrame:
    """An index series (FinanceDataReader or pykrx dialect) → frame (date, open, high, low, close)."""
    frame = _read_table(path, "지수 파일")
    if "Date" in frame.columns and "Close" in frame.columns:
        mapping = _INDEX_DIALECTS["fdr"]
    elif "날짜" in frame.columns and "종가" in frame.columns:
        mapping = _INDEX_DIALECTS["pykrx"]
    else:
        raise CsvImportError(f"{path.name}: 지수 파일에는 Date,Close (또는 날짜,종가) 열이 있어야 합니다")
    frame = frame[[c for c in mapping if c in frame.columns]].rename(columns=mapping)
    out = pd.DataFrame({"date": pd.to_datetime(frame["date"], errors="coerce")})
    for col in ("open", "high", "low", "close"):
        out[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame else np.nan
    bad = out["date"].isna() | out["close"].isna() | (out["close"] <= 0)
    if bad.all():
        raise CsvImportError(f"{path.name}: 쓸 수 있는 지수 행이 없습니다")
    return out[~bad].drop_duplicates("date", keep="last")


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise CsvImportError(f"{what} {path}이(가) 없습니다")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CsvImportError(f"{path.name}: CSV로 읽을 수 없습니다 ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    return frame
