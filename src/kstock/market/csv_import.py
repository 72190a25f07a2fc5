"""CSV import: one file per ticker in the pykrx or FinanceDataReader dialect, a tickers file, index files.

Users arrive with folders of files from pykrx (``날짜,시가,고가,저가,종가,거래량[,등락률]``) or
FinanceDataReader (``Date,Open,High,Low,Close,Volume[,Change]``). The dialect is detected from the
header (BOM-tolerant). A bad file is reported with its name and reason and skipped; everything that
passes is written in one transaction, so nothing already stored is lost.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kstock.market.csv_tables import CsvImportError, read_index_file, read_tickers_file
from kstock.market.file_kinds import not_a_regular_file
from kstock.market.freshness import seoul_today
from kstock.market.row_checks import RowColumns, find_bad_rows, index_columns
from kstock.market.store import MarketStore
from kstock.market.types import MarketData, Ticker
from kstock.market.universe import classify_instrument

__all__ = ["DIALECTS", "CsvImportError", "ImportReport", "cut_cell", "detect_dialect", "import_directory",
           "read_index_file", "read_price_file", "read_tickers_file"]

DIALECTS: dict[str, dict[str, str]] = {
    "pykrx": {"날짜": "date", "시가": "open", "고가": "high", "저가": "low", "종가": "close", "거래량": "volume"},
    "fdr": {"Date": "date", "Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"},
}


class BadFile(ValueError):
    """One file is unusable; the import reports it and carries on with the others."""


@dataclass
class ImportReport:
    files_ok: int = 0
    bad_files: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    rows_read: int = 0
    rows_changed: int = 0
    tickers: int = 0
    index_rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def detect_dialect(columns: Iterable[str], dialects: dict[str, dict[str, str]] = DIALECTS) -> str:
    """Name of the dialect whose columns the header has; BadFile naming what is missing otherwise."""
    cols = {c.strip().lstrip("\ufeff") for c in columns}
    best, missing = None, None
    for name, mapping in dialects.items():
        lacking = [c for c in mapping if c not in cols]
        if not lacking:
            return name
        if len(lacking) < len(mapping) and (missing is None or len(lacking) < len(missing)):
            best, missing = name, lacking
    if best is not None and missing is not None:
        raise BadFile(f"{best} 형식의 열 {', '.join(missing)}이(가) 없습니다")
    raise BadFile(
        "알 수 없는 CSV 형식입니다: pykrx 열 날짜,시가,고가,저가,종가,거래량 또는 "
        "FinanceDataReader 열 Date,Open,High,Low,Close,Volume이 있어야 합니다"
    )


def read_price_file(path: Path, until: dt.date | None = None) -> pd.DataFrame:
    """Read and validate one ticker file → frame (code, date, open, high, low, close, volume).

    A row dated after ``until`` (the import's "today") rejects the file: a day that has not happened
    would become the store's last trading day and every analysis would be of it.

    The common case (clean numeric columns) takes pandas' fast C parser; only a file whose columns
    do not parse as numbers is re-read as text to say which row is wrong.
    """
    code = path.stem.strip().upper()  # KRX letter codes are upper case (0030R0), whatever the file system kept
    # ASCII only: str.isalnum() alone also takes Hangul or superscript digits, so 가나다라마바.csv became a ticker
    if not _FILE_CODE.fullmatch(code):
        raise BadFile("파일 이름은 여섯 글자 종목코드여야 합니다 (예: 005930.csv)")
    problem = not_a_regular_file(path)
    if problem:
        raise BadFile(problem)
    try:
        raw = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except OSError as exc:  # unreadable (permissions, a folder, a broken link): this file only
        raise BadFile(f"읽을 수 없습니다 ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:  # Excel on Korean Windows saves "CSV" as CP949; say so, not the codec's words
        raise BadFile("CSV로 읽을 수 없습니다: UTF-8 텍스트가 아닙니다 (Excel이 저장한 CP949/EUC-KR?); "
                      "'CSV UTF-8'로 저장해 다시 시도하세요") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BadFile(f"CSV로 읽을 수 없습니다 ({str(exc).splitlines()[0]})") from None
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    mapping = DIALECTS[detect_dialect(raw.columns)]
    frame = raw[list(mapping)].rename(columns=mapping)
    if frame.empty:
        raise BadFile("머리글만 있고 행이 없습니다")
    return _validate_prices(code, frame, until)


_FILE_CODE = re.compile(r"[0-9A-Z]{6}")
_FIRST_DAY, _LAST_DAY = np.datetime64("1950-01-01"), np.datetime64("2200-01-01")
_COMPACT_DATE = re.compile(r"\d{8}")
#: A time of day after the date, perhaps with a UTC offset: pandas writes a tz-aware index as
#: ``2024-01-02 00:00:00+09:00``, and numpy would convert that to UTC — the day before.
#: A year, or a year and a month: no trading day.
_PARTIAL_DATE = re.compile(r"\d{4}(?:[-./]\d{1,2})?")
_TIME_OF_DAY = re.compile(r"[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?$")


def _parse_dates(values: pd.Series) -> np.ndarray:
    """ISO dates → datetime64[D] via numpy (fast); other spellings through pandas; NaT where unparseable.

    Compact ``yyyymmdd`` (KRX downloads) is read as such: numpy would take ``20240102`` for a year.
    Dates outside 1950–2200 are NaT, so a misread never becomes a price on a nonsense day. A time of day
    (and any UTC offset) is dropped: the trading day is the date as written, never shifted to UTC. A
    month or a year alone (``2024-01``, ``2024``) is NaT too, where numpy and pandas would make it the 1st.
    """
    raw = values.to_numpy()
    if raw.dtype.kind in "iu" or (len(raw) and _COMPACT_DATE.fullmatch(str(raw[0]).strip())):
        text = pd.Series(raw.astype(str)).str.strip()
        parsed = pd.to_datetime(text, errors="coerce", format="%Y%m%d").to_numpy().astype("datetime64[D]")
    else:
        text = np.char.strip(raw.astype(str))
        if text.size and np.char.str_len(text).max() > 10:  # longer than YYYY-MM-DD: drop the time of day
            text = pd.Series(text).str.replace(_TIME_OF_DAY, "", regex=True).to_numpy(dtype=str)
        try:
            parsed = np.array(text, dtype="datetime64[D]")
        except ValueError:
            parsed = pd.to_datetime(pd.Series(text), errors="coerce", format="mixed").to_numpy().astype("datetime64[D]")
        short = np.flatnonzero(np.char.str_len(text) < 8)  # cheap pre-filter: only short cells can be partial
        if short.size:
            partial = pd.Series(text[short]).str.fullmatch(_PARTIAL_DATE).to_numpy(dtype=bool)
            parsed[short[partial]] = np.datetime64("NaT")
    parsed[(parsed < _FIRST_DAY) | (parsed >= _LAST_DAY)] = np.datetime64("NaT")
    return parsed


def _numeric(frame: pd.DataFrame, col: str) -> tuple[np.ndarray, tuple[int, str] | None]:
    """The column as floats, and its first cell that is no number with the reason (None when every cell is one;
    whether the numbers make a sane row is :mod:`kstock.market.row_checks`' question)."""
    values = frame[col]
    # pandas reads a column of True/False as bool, which counts as numeric: a price of "True" is text here
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        values = pd.to_numeric(values.astype(str).str.replace(",", "", regex=False).str.strip(), errors="coerce")
    array = values.to_numpy(dtype=float)
    if not np.isfinite(array).all():  # text, an empty cell, or inf
        bad = int((~np.isfinite(array)).argmax())
        cell = frame[col].iloc[bad]
        shown = " 칸이 비어 있습니다" if pd.isna(cell) else f" {cut_cell(cell)}은(는) 숫자가 아닙니다"
        return array, (bad, f"{_row(frame, bad)}: {FIELD_KO[col]}{shown}")
    return array, None


#: The price columns as people read them (the row rule's words).
FIELD_KO = {"open": "시가", "high": "고가", "low": "저가", "close": "종가", "volume": "거래량"}


def _row(frame: pd.DataFrame, pos: int) -> str:
    """'2행 (2024-01-02)' for the row at ``pos`` (the file's line: the header is line 1), the date cell as
    written; '2행' alone when that cell is empty."""
    cell = frame["date"].iloc[pos]
    text = "" if pd.isna(cell) else " ".join(str(cell).split())
    return f"{pos + 2}행 ({_cut(text, MAX_CELL)})" if text else f"{pos + 2}행"


def _date_problem(frame: pd.DataFrame, dates: np.ndarray) -> tuple[int, str] | None:
    if not np.isnat(dates).any():
        return None
    bad = int(np.isnat(dates).argmax())
    cell = frame["date"].iloc[bad]
    shown = "(empty)" if pd.isna(cell) or not str(cell).strip() else cut_cell(cell)
    return bad, f"{bad + 2}행: 날짜 {shown}은(는) 1950~2199년의 날짜가 아닙니다 (YYYY-MM-DD 형식이어야 합니다)"


def _validate_prices(code: str, frame: pd.DataFrame, until: dt.date | None = None) -> pd.DataFrame:
    dates = _parse_dates(frame["date"])
    parsed = {col: _numeric(frame, col) for col in ("open", "high", "low", "close", "volume")}
    # the first bad row in the file wins (date before prices on the same row): a stray carriage return
    # splits a line in two, and the row the user must fix is the first one, not the orphan after it
    problems = [p for p in (_date_problem(frame, dates), *(problem for _, problem in parsed.values())) if p]
    if problems:
        raise BadFile(min(problems, key=lambda p: p[0])[1])
    if until is not None and (dates > np.datetime64(until, "D")).any():
        bad = int((dates > np.datetime64(until, "D")).argmax())
        raise BadFile(f"{bad + 2}행 ({dates[bad]}): 미래 날짜입니다 ({until} 이후) — 이 파일에서는 아무것도 "
                      "가져오지 않았습니다")
    cols = {col: values for col, (values, _) in parsed.items()}
    _refuse_bad_rows(RowColumns(dates, *(cols[c] for c in ("open", "high", "low", "close", "volume"))))
    order = np.argsort(dates, kind="stable")
    dates = dates[order]
    dup = dates[1:] == dates[:-1]
    if dup.any():
        first = int(dup.argmax()) + 1
        rows = np.sort(order[[first - 1, first]]) + 2  # the two rows of the file that carry the day
        raise BadFile(f"{rows[1]}행 ({dates[first]}): {rows[0]}행과 같은 날짜입니다 — 날짜마다 한 행만 두세요")
    data = {"code": np.full(len(dates), code), "date": dates.astype("datetime64[ns]")}
    data.update({col: values[order] for col, values in cols.items()})
    return pd.DataFrame(data)


def _refuse_bad_rows(rows: RowColumns) -> None:
    """BadFile naming the first row that breaks the market's row rule (and how many do), like a future date."""
    bad = find_bad_rows(rows)
    if not len(bad):
        return
    pos, reason = bad.first()
    more = f" (이 파일의 잘못된 행 {len(bad)}개 중 첫 행)" if len(bad) > 1 else ""
    raise BadFile(f"{pos + 2}행 ({rows.dates[pos]}): {reason}{more} — 이 파일에서는 아무것도 가져오지 않았습니다")


def import_directory(
    store: MarketStore,
    directory: Path,
    *,
    tickers_file: Path | None = None,
    sectors_file: Path | None = None,
    index_files: dict[str, Path] | None = None,
    progress: bool = True,
    until: dt.date | None = None,
) -> ImportReport:
    """Import every ``*.csv`` in ``directory``; all checks happen before the one write transaction.

    ``until`` (default: today in Seoul) is the last date a row may carry; a file with a later row is
    rejected with the row named, like any other bad file.
    """
    directory = Path(directory)
    until = until or seoul_today()
    if not directory.is_dir():
        raise CsvImportError(f"{directory}은(는) 폴더가 아닙니다; 종목마다 CSV 파일이 하나씩 든 폴더를 주세요")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".csv")
    if not files:
        raise CsvImportError(f"{directory}에 .csv 파일이 없습니다; "
                             "종목마다 005930.csv 같은 파일이 하나씩 있어야 합니다")
    if sectors_file and not tickers_file:
        raise CsvImportError("`--sectors`에는 `--tickers`가 필요합니다: 업종은 종목 파일의 행에 붙습니다")
    tickers, industries = read_tickers_file(tickers_file, sectors_file) if tickers_file else ([], {})
    indices = {name.upper(): _until(read_index_file(p), p, until) for name, p in (index_files or {}).items()}
    report = ImportReport()
    frames = _read_all(files, report, progress, until)
    if not frames:  # every file's reason travels with the error: the user fixes them all in one go
        name, reason = report.bad_files[0]
        more = f" (그 밖의 잘못된 파일 {len(files) - 1}개는 위에 이유와 함께 있습니다)" if len(files) > 1 else ""
        raise CsvImportError(f"{directory}에 쓸 수 있는 CSV가 없습니다: {name}: {reason}{more}; 파일을 고친 뒤 "
                             "다시 시도하세요 (아무것도 가져오지 않았습니다)", report.bad_files)
    known = {t.code for t in tickers} | {t.code for t in store.tickers()}
    tickers += _placeholder_tickers([f["code"].iloc[0] for f in frames if f["code"].iloc[0] not in known], report)
    prices = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    report.rows_read = len(prices)
    report.tickers = len(tickers)
    report.rows_changed = store.ingest(
        MarketData(tickers=tickers, prices=prices, indices=indices), source=f"csv:{directory.name}",
        industries=industries,
    )
    report.index_rows = {name: len(frame) for name, frame in indices.items()}
    return report


def _until(index: pd.DataFrame, path: Path, until: dt.date) -> pd.DataFrame:
    """An index series with no row after ``until`` and every row sane (a session, a level that is a price);
    a later or bad row stops the import (nothing written)."""
    late = index["date"] > pd.Timestamp(until)
    if late.any():
        pos = int(late.to_numpy().argmax())
        raise CsvImportError(f"{path.name}: {int(index.index[pos]) + 2}행 ({index['date'].iloc[pos].date()}): "
                             f"미래 날짜입니다 ({until} 이후) — 아무것도 가져오지 않았습니다")
    bad = find_bad_rows(index_columns(index["date"].to_numpy(), index["close"].to_numpy()))
    if len(bad):
        pos, reason = bad.first()
        raise CsvImportError(f"{path.name}: {int(index.index[pos]) + 2}행 ({index['date'].iloc[pos].date()}): "
                             f"{reason} — 아무것도 가져오지 않았습니다")
    return index


def _read_all(files: list[Path], report: ImportReport, progress: bool,
              until: dt.date | None = None) -> list[pd.DataFrame]:
    from tqdm import tqdm

    frames = []
    for path in tqdm(files, desc="가져오기", unit="파일", disable=not progress, leave=False):
        try:
            frames.append(read_price_file(path, until))
            report.files_ok += 1
        except BadFile as exc:
            report.bad_files.append((cut_cell(path.name, 80)[1:-1], _cut(str(exc), MAX_REASON)))
    return frames


#: Longest cell value and reason shown in an error line (a 100 KB cell is not echoed in full).
MAX_CELL, MAX_REASON = 40, 300


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut_cell(value: object, limit: int = MAX_CELL) -> str:
    """A cell as quoted in an error line: stripped, one line, at most ``limit`` characters."""
    text = " ".join(str(value).split())
    return repr(_cut(text, limit))


def _placeholder_tickers(codes: list[str], report: ImportReport) -> list[Ticker]:
    if codes:
        report.warnings.append(
            f"종목 {len(codes)}개는 가격은 있지만 종목 파일에 행이 없습니다 (예: {codes[0]}); 코드를 이름으로 "
            "저장했습니다 — 이름을 붙이려면 `--tickers`를 주세요"
        )
    return [Ticker(code=c, name=c, market="UNKNOWN", kind=classify_instrument(c, c, None, None)) for c in codes]
