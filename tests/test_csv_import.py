"""CSV import: both dialects, tickers/sector/index files, every bad input, and real KRX files when present."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kstock.market.csv_import import (
    BadFile,
    CsvImportError,
    detect_dialect,
    import_directory,
    read_index_file,
    read_price_file,
    read_tickers_file,
)
from kstock.market.store import MarketStore
from kstock.market.types import CLOSE, InstrumentKind
from support.stores import data_checksum, price_frame, store_checksum, write_fdr_csv, write_pykrx_csv

K = InstrumentKind

TICKERS_CSV = (
    "code,name,market,ksic_industry,wics_large,wics_medium,wics_small,kosdaq_dept,listing_date,delisting_date\n"
    "005930,삼성전자,KOSPI,통신 및 방송 장비 제조업,IT,반도체와반도체장비,반도체와반도체장비,,1975-06-11,\n"
    "5935,삼성전자우,KOSPI,,,,,,1989-09-25,\n"  # a spreadsheet dropped the leading zeros
    "035720,카카오,KOSPI,,,,,,2017-07-10,\n"
    "068270,셀트리온,KOSPI,,,,,,2018-02-09,\n"
    "069500,KODEX 200,ETF,,,,,,2002-10-14,\n"
    "448740,삼성스팩8호,KOSDAQ GLOBAL,,,,,SPAC(소속부없음),2023-05-01,\n"
    "330590,롯데리츠,KOSPI,,,,,,2019-10-30,\n"
)
SECTORS_CSV = (  # shaped like krx_industry_2021-12.csv: unnamed first column, quoted header, BOM
    '\ufeff"","종목코드","종목명","시장구분","업종명","종가","대비","등락률","시가총액"\n'
    '"1","005930","삼성전자","KOSPI","전기전자",78300,0,0,467000000000000\n'
    '"2","035720","카카오","KOSPI","서비스업",112500,0,0,50000000000000\n'
    '"3","068270","셀트리온","KOSPI","의약품",204000,0,0,28000000000000\n'
)
INDEX_CSV = (  # the FinanceDataReader index dialect of index/kospi.csv
    "Date,Close,UpDown,Comp,Change,Open,High,Low,Volume,Amount,MarCap\n"
    "2023-12-28,2655.28,1,41.78,0.016,2621.93,2655.28,2618.28,400000000,9000000000000,\n"
    "2024-01-02,2669.81,1,14.53,0.0055,2645.47,2676.33,2641.64,360000000,8000000000000,2100000000000000\n"
    "2024-01-03,2607.31,2,-62.5,-0.0234,2661.85,2662.26,2603.14,420000000,9500000000000,2050000000000000\n"
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A tickers file, a sector file and an index file, as users have them."""
    out = {"tickers": tmp_path / "tickers.csv", "sectors": tmp_path / "krx_industry.csv", "index": tmp_path / "k.csv"}
    out["tickers"].write_text(TICKERS_CSV, encoding="utf-8")
    out["sectors"].write_text(SECTORS_CSV, encoding="utf-8")
    out["index"].write_text(INDEX_CSV, encoding="utf-8")
    return out


@pytest.fixture
def prices_dir(tmp_path: Path) -> Path:
    """Two pykrx files (one with a halt row) and one FinanceDataReader file."""
    folder = tmp_path / "prices"
    folder.mkdir()
    samsung = price_frame("005930", "2024-01-02", 10, base=78_000)
    samsung.loc[4, ["open", "high", "low", "volume"]] = 0  # 2024-01-08: KRX halt row
    write_pykrx_csv(folder / "005930.csv", samsung)
    write_pykrx_csv(folder / "005935.csv", price_frame("005935", "2024-01-02", 10, base=62_000), bom=False)
    write_fdr_csv(folder / "035720.csv", price_frame("035720", "2024-01-02", 10, base=55_000))
    return folder


def _store(tmp_path: Path) -> MarketStore:
    return MarketStore(tmp_path / "store.db")


# --- dialects -------------------------------------------------------------------------------------


def test_detect_dialect() -> None:
    assert detect_dialect(["\ufeff날짜", "시가", "고가", "저가", "종가", "거래량", "등락률"]) == "pykrx"
    assert detect_dialect(["Date", "Open", "High", "Low", "Close", "Volume", "Change"]) == "fdr"
    with pytest.raises(BadFile, match=re.escape("fdr 형식의 열 Volume이(가) 없습니다")):
        detect_dialect(["Date", "Open", "High", "Low", "Close"])
    with pytest.raises(BadFile, match="알 수 없는 CSV 형식입니다"):
        detect_dialect(["time", "price"])


def test_pykrx_dialect_with_bom(tmp_path: Path) -> None:
    frame = price_frame("005930", "2024-01-02", 5)
    path = write_pykrx_csv(tmp_path / "005930.csv", frame)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    out = read_price_file(path)
    assert list(out.columns) == ["code", "date", "open", "high", "low", "close", "volume"]
    assert (out["code"] == "005930").all()
    np.testing.assert_array_equal(out["close"], frame["close"])
    assert out["date"].iloc[0] == pd.Timestamp("2024-01-02")


def test_fdr_dialect(tmp_path: Path) -> None:
    frame = price_frame("035720", "2024-01-02", 5, base=55_123.5)
    out = read_price_file(write_fdr_csv(tmp_path / "035720.csv", frame))
    np.testing.assert_allclose(out[["open", "high", "low", "close", "volume"]], frame.iloc[:, 2:])


def test_other_spellings_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "000001.csv"
    path.write_text(
        "날짜, 시가, 고가, 저가, 종가, 거래량\n"  # spaces after commas
        '20240103,"72,300","72,500","71,000","71,500","1,234"\n'  # compact dates, thousands separators
        "20240102,70000,72000,69000,71000,1000\n",  # unsorted
        encoding="utf-8",
    )
    out = read_price_file(path)
    assert out["date"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert out["open"].tolist() == [70_000, 72_300] and out["volume"].tolist() == [1000, 1234]


# --- bad price files ------------------------------------------------------------------------------

GOOD_ROW = "2024-01-02,100,110,90,105,1000"


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("000001.csv", "Date,Open,High,Low,Close\n2024-01-02,1,2,1,2\n", "fdr 형식의 열 Volume이(가) 없습니다"),
        ("000001.csv", "날짜,시가,고가,종가,거래량\n2024-01-02,1,2,1,2\n", "pykrx 형식의 열 저가이(가) 없습니다"),
        ("000001.csv", "time,price,size\n2024-01-02,1,2\n", "알 수 없는 CSV 형식입니다"),
        ("000001.csv", "Date;Open;High;Low;Close;Volume\n2024-01-02;1;2;1;2;3\n", "알 수 없는 CSV 형식입니다"),
        ("000001.csv", f"Date,Open,High,Low,Close,Volume\n{GOOD_ROW}\n2024-01-03,abc,110,90,105,1000\n",
         "3행 (2024-01-03): 시가 'abc'은(는) 숫자가 아닙니다"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,100,110,90,,1000\n",
         "2행 (2024-01-02): 종가 칸이 비어 있습니다"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,100,110,90,inf,1000\n",
         "2행 (2024-01-02): 종가 'inf'은(는) 숫자가 아닙니다"),
        ("000001.csv", f"Date,Open,High,Low,Close,Volume\n{GOOD_ROW}\n2024-01-03,100,110,-90,105,1000\n",
         "3행 (2024-01-03): 저가 -90원은(는) 가격이 아닙니다"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,100,110,90,105,-5\n",
         "2행 (2024-01-02): 거래량 -5은(는) 0 이상"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,100,90,110,105,1000\n",
         "2행 (2024-01-02): 고가 90이(가) 저가 110보다 낮습니다"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,0,0,0,0,0\n",
         "2행 (2024-01-02): 종가 0원은(는) 가격이 아닙니다"),
        ("000001.csv", f"Date,Open,High,Low,Close,Volume\n{GOOD_ROW}\n{GOOD_ROW}\n",
         "3행 (2024-01-02): 2행과 같은 날짜입니다 — 날짜마다 한 행만 두세요"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\nyesterday,100,110,90,105,1000\n",
         "2행: 날짜 'yesterday'은(는) 1950~2199년의 날짜가 아닙니다"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n95,100,110,90,105,1000\n", "날짜가 아닙니다"),
        ("000001.csv", "Date,Open,High,Low,Close,Volume\n", "머리글만 있고 행이 없습니다"),
        ("000001.csv", "", "CSV로 읽을 수 없습니다"),
        ("000001.csv", "\xff\xfe garbage", "CSV로 읽을 수 없습니다"),
        ("samsung.csv", f"Date,Open,High,Low,Close,Volume\n{GOOD_ROW}\n", "여섯 글자 종목코드"),
    ],
)
def test_bad_price_file_says_why(tmp_path: Path, name: str, text: str, reason: str) -> None:
    path = tmp_path / name
    if text.startswith("\xff"):
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(BadFile) as info:
        read_price_file(path)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


# --- tickers, sectors and index files -------------------------------------------------------------


def test_tickers_file_with_sector_file(files: dict[str, Path]) -> None:
    tickers, industries = read_tickers_file(files["tickers"], files["sectors"])
    by_code = {t.code: t for t in tickers}
    assert list(by_code) == ["005930", "005935", "035720", "068270", "069500", "448740", "330590"]
    assert industries["035720"] == "서비스업"
    assert by_code["005930"].kind == K.COMMON and by_code["005930"].sector_id == 0
    assert by_code["005930"].listing_date == "1975-06-11" and by_code["005930"].delisting_date is None
    assert by_code["005935"].kind == K.PREFERRED
    assert by_code["035720"].sector_id == 2 and by_code["068270"].sector_id == 3
    assert by_code["069500"].kind == K.ETF and by_code["069500"].market == "ETF"
    assert by_code["448740"].kind == K.SPAC and by_code["448740"].market == "KOSDAQ"
    assert by_code["330590"].kind == K.REIT


def test_sector_from_the_tickers_file_own_columns(files: dict[str, Path]) -> None:
    tickers, industries = read_tickers_file(files["tickers"])  # no 업종 file: KSIC / WICS decide
    assert industries == {}
    assert next(t for t in tickers if t.code == "005930").sector_id == 0
    assert next(t for t in tickers if t.code == "035720").sector_id is None  # unknown stays explicit


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("code,name,market\n005930,삼성전자,KOSPI\n5930,삼성전자 copy,KOSPI\n", "코드가 겹칩니다 (005930)"),
        ("code,name\n005930,삼성전자\n", "열 market이(가) 없습니다"),
        ("code,name,market\n005930,삼성전자,KOSPI\n,이름만,KOSPI\n", "3행에 코드나 이름이 없습니다"),
    ],
)
def test_bad_tickers_file(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "tickers.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CsvImportError, match=re.escape(reason)):
        read_tickers_file(path)


def test_index_file_fdr_dialect(files: dict[str, Path]) -> None:
    frame = read_index_file(files["index"])
    assert list(frame.columns) == ["date", "open", "high", "low", "close"]
    assert frame["close"].tolist() == [2655.28, 2669.81, 2607.31]
    assert frame["open"].iloc[1] == 2645.47


def test_index_file_pykrx_dialect(tmp_path: Path) -> None:
    path = tmp_path / "kosdaq.csv"
    path.write_text("\ufeff날짜,시가,고가,저가,종가,거래량\n2024-01-02,866.0,879.0,865.0,878.93,1\n", encoding="utf-8")
    frame = read_index_file(path)
    assert frame["close"].tolist() == [878.93] and frame["low"].tolist() == [865.0]


def test_bad_index_file(tmp_path: Path) -> None:
    path = tmp_path / "kospi.csv"
    path.write_text("when,level\n2024-01-02,2669.81\n", encoding="utf-8")
    with pytest.raises(CsvImportError, match="Date,Close"):
        read_index_file(path)
    path.write_text("Date,Close\nx,y\n", encoding="utf-8")
    with pytest.raises(CsvImportError, match="쓸 수 있는 지수 행이 없습니다"):
        read_index_file(path)
    with pytest.raises(CsvImportError, match=re.escape("absent.csv이(가) 없습니다")):
        read_index_file(tmp_path / "absent.csv")


# --- whole imports --------------------------------------------------------------------------------


def test_import_directory(tmp_path: Path, prices_dir: Path, files: dict[str, Path]) -> None:
    with _store(tmp_path) as store:
        report = import_directory(store, prices_dir, tickers_file=files["tickers"], sectors_file=files["sectors"],
                                  index_files={"kospi": files["index"]}, progress=False)
        assert report.files_ok == 3 and report.bad_files == [] and report.warnings == []
        assert report.rows_read == 30 and report.index_rows == {"KOSPI": 3}
        assert report.rows_changed == 7 + 30 + 3
        panel = store.load_panel()
        assert panel.codes == ["005930", "005935", "035720"]
        i = panel.index_of("005930")
        assert panel.halted[i].tolist() == [False] * 4 + [True] + [False] * 5
        assert np.isnan(panel.ohlcv[i, 4]).all()
        assert panel.ohlcv[panel.index_of("035720"), 0, CLOSE] == 55_000
        assert panel.sector_ids.tolist() == [0, -1, 2]  # 삼성전자우 has no 업종 row: unknown, not a guess
        assert store.load_index("KOSPI").loc["2024-01-02", "close"] == pytest.approx(2669.81)
        assert store.conn.execute("SELECT industry FROM tickers WHERE code = '068270'").fetchone()[0] == "의약품"
        summary = store.summary()
        assert summary["halt_days"] == 1 and summary["by_kind"]["common"] == 3

        before = data_checksum(tmp_path / "store.db")
        again = import_directory(store, prices_dir, tickers_file=files["tickers"], sectors_file=files["sectors"],
                                 index_files={"KOSPI": files["index"]}, progress=False)
        assert again.rows_changed == 0
        assert data_checksum(tmp_path / "store.db") == before


def test_prices_without_tickers_file_get_placeholders(tmp_path: Path, prices_dir: Path) -> None:
    with _store(tmp_path) as store:
        report = import_directory(store, prices_dir, progress=False)
        assert report.files_ok == 3 and "종목 파일에 행이 없습니다" in report.warnings[0]
        assert store.get_ticker("035720").name == "035720"


def test_known_names_are_not_overwritten_by_placeholders(tmp_path: Path, prices_dir: Path,
                                                          files: dict[str, Path]) -> None:
    with _store(tmp_path) as store:
        import_directory(store, prices_dir, tickers_file=files["tickers"], progress=False)
        report = import_directory(store, prices_dir, progress=False)  # later update without --tickers
        assert report.warnings == [] and report.rows_changed == 0
        assert store.get_ticker("005930").name == "삼성전자"


def test_bad_file_among_good_ones_is_skipped(tmp_path: Path, prices_dir: Path, files: dict[str, Path]) -> None:
    with _store(tmp_path) as store:
        import_directory(store, prices_dir, tickers_file=files["tickers"], progress=False)
        stored = store.load_panel()
        # the next batch: one new good file, one corrected file, two bad ones
        update = tmp_path / "update"
        update.mkdir()
        write_fdr_csv(update / "068270.csv", price_frame("068270", "2024-01-02", 12, base=180_000))
        write_pykrx_csv(update / "005930.csv", price_frame("005930", "2024-01-16", 3, base=80_000))
        (update / "035720.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,-5,1\n",
                                           encoding="utf-8")
        (update / "005935.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,2,1,1\n",
                                           encoding="utf-8")
        (update / "README.txt").write_text("not a csv", encoding="utf-8")
        report = import_directory(store, update, progress=False)
        assert report.files_ok == 2
        assert [(name, reason.split(" — ")[0]) for name, reason in report.bad_files] == [
            ("005935.csv", "2행 (2024-01-02): 고가 1이(가) 저가 2보다 낮습니다"),
            ("035720.csv", "2행 (2024-01-02): 종가 -5원은(는) 가격이 아닙니다 (0원 초과 1억 원 이하여야 합니다)")]
        panel = store.load_panel()
        assert panel.codes == ["005930", "005935", "035720", "068270"]
        for code in stored.codes:  # everything stored before is intact
            old, new = stored.frame(code), panel.frame(code).reindex(stored.dates)
            pd.testing.assert_frame_equal(old, new, check_freq=False)
        assert panel.frame("005930").loc["2024-01-18", "close"] == 80_200
        assert store.get_ticker("005935").name == "삼성전자우"


@pytest.mark.parametrize("case", ["no csv", "not a dir", "all bad", "duplicate tickers", "missing tickers file",
                                  "bad sectors file", "sectors without tickers", "bad index file"])
def test_refused_imports_write_nothing(tmp_path: Path, prices_dir: Path, files: dict[str, Path], case: str) -> None:
    db = tmp_path / "store.db"
    with MarketStore(db) as store:
        import_directory(store, prices_dir, tickers_file=files["tickers"], progress=False)
    before = store_checksum(db)
    directory, kwargs = prices_dir, {}
    if case == "no csv":
        directory = tmp_path / "empty"
        directory.mkdir()
        (directory / "notes.txt").write_text("x", encoding="utf-8")
        expected = ".csv 파일이 없습니다"
    elif case == "not a dir":
        directory, expected = files["tickers"], "폴더가 아닙니다"
    elif case == "all bad":
        directory = tmp_path / "bad"
        directory.mkdir()
        (directory / "000001.csv").write_text("time,price\n1,2\n", encoding="utf-8")
        (directory / "000002.csv").write_text("time,price\n1,2\n", encoding="utf-8")
        expected = "쓸 수 있는 CSV가 없습니다"
    elif case == "duplicate tickers":
        dup = tmp_path / "dup.csv"
        dup.write_text(TICKERS_CSV + "005930,삼성전자 (again),KOSPI,,,,,,,\n", encoding="utf-8")
        kwargs, expected = {"tickers_file": dup}, "코드가 겹칩니다 (005930)"
    elif case == "missing tickers file":
        kwargs, expected = {"tickers_file": tmp_path / "absent.csv"}, "이(가) 없습니다"
    elif case == "bad sectors file":
        kwargs = {"tickers_file": files["tickers"], "sectors_file": files["index"]}
        expected = "KRX 업종 파일이 아닙니다"
    elif case == "sectors without tickers":
        kwargs, expected = {"sectors_file": files["sectors"]}, "`--sectors`에는 `--tickers`가 필요합니다"
    else:
        bad_index = tmp_path / "bad_index.csv"
        bad_index.write_text("when,level\n1,2\n", encoding="utf-8")
        kwargs, expected = {"index_files": {"KOSPI": bad_index}}, "Date,Close"
    with MarketStore(db) as store, pytest.raises(CsvImportError) as info:
        import_directory(store, directory, progress=False, **kwargs)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert store_checksum(db) == before


# --- real KRX files -------------------------------------------------------------------------------


HALTED_CODE = "013580"  # has a halt row in market_2023_2025


@pytest.fixture(scope="module")
def real_store(krx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    """20 files of each real price set (plus reference tickers) imported with tickers, sectors and KOSPI."""
    root = tmp_path_factory.mktemp("real")
    want = {"005930.csv", "005935.csv", "000660.csv", f"{HALTED_CODE}.csv"}
    for name in ("kospi_2020_2026", "market_2023_2025"):
        names = sorted(p.name for p in (krx_dir / name).glob("*.csv"))
        picked = set(names[:: len(names) // 20][:20]) | (want & set(names))
        (root / name).mkdir()
        for n in picked:
            shutil.copy(krx_dir / name / n, root / name / n)
    store = MarketStore(root / "real.db")
    common = {"tickers_file": krx_dir / "tickers.csv", "sectors_file": krx_dir / "krx_industry_2021-12.csv",
              "progress": False}
    for name in ("kospi_2020_2026", "market_2023_2025"):
        report = import_directory(store, root / name, index_files={"KOSPI": krx_dir / "index" / "kospi.csv"}, **common)
        assert report.bad_files == [] and report.files_ok >= 20
    yield store
    store.close()


@pytest.mark.realdata
def test_real_reference_prices(krx_dir: Path, tmp_path: Path) -> None:
    """Each price set on its own: the documented reference closes."""
    for name, day, close in (("kospi_2020_2026", "2020-01-02", 55_200), ("market_2023_2025", "2024-01-02", 79_600)):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(krx_dir / name / "005930.csv", folder)
        with MarketStore(tmp_path / f"{name}.db") as store:
            import_directory(store, folder, progress=False)
            assert store.load_panel().frame("005930").loc[day, "close"] == close


@pytest.mark.realdata
def test_real_sample_import(real_store: MarketStore, krx_dir: Path) -> None:
    store = real_store
    panel = store.load_panel()
    assert {"005930", "005935", HALTED_CODE} <= set(panel.codes) and len(panel.codes) >= 40
    assert panel.dates[0] == np.datetime64("2020-01-02")
    samsung = panel.frame("005930")
    assert samsung.loc["2020-01-02", "close"] == 55_200  # kospi_2020_2026 (FinanceDataReader dialect)
    assert samsung.loc["2024-01-02", "close"] == 79_600  # market_2023_2025 (pykrx dialect), imported last
    assert store.load_index("KOSPI").loc["2024-01-02", "close"] == pytest.approx(2669.81)
    # halt rows (open = high = low = 0, volume = 0) became halts: NaN in the panel, flagged in the mask
    raw = pd.read_csv(krx_dir / "market_2023_2025" / f"{HALTED_CODE}.csv", encoding="utf-8-sig")
    halt_days = pd.to_datetime(raw.loc[(raw["시가"] == 0) & (raw["거래량"] == 0), "날짜"]).to_numpy("datetime64[D]")
    assert len(halt_days) >= 1
    i = panel.index_of(HALTED_CODE)
    for day in halt_days:
        j = panel.date_index(day)
        assert panel.halted[i, j] and np.isnan(panel.ohlcv[i, j]).all()
    assert int(panel.halted.sum()) == store.summary()["halt_days"]
    assert np.isnan(panel.ohlcv[panel.halted]).all()


@pytest.mark.realdata
def test_real_universe_kinds(real_store: MarketStore) -> None:
    tickers = {t.code: t for t in real_store.tickers()}
    assert len(tickers) >= 2_700  # the whole tickers file
    assert tickers["005930"].kind == K.COMMON and tickers["005930"].sector_id == 0
    assert tickers["000660"].sector_id == 0
    assert tickers["005935"].kind == K.PREFERRED
    assert tickers["069500"].kind == K.ETF
    spac = next(t for t in tickers.values() if "스팩" in t.name)
    reit = next(t for t in tickers.values() if t.name.endswith("리츠"))
    assert spac.kind == K.SPAC and reit.kind == K.REIT
    commons = {t.code for t in real_store.tickers(kinds=[K.COMMON])}
    assert "005930" in commons and not {"005935", "069500", spac.code, reit.code} & commons


@pytest.mark.realdata
def test_real_lookup(real_store: MarketStore, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import json

    from kstock.cli import main

    monkeypatch.delenv("KSTOCK_TOP_K", raising=False)
    monkeypatch.chdir(real_store.path.parent)
    assert main(["lookup", "삼성전자우", "--json", "--db", str(real_store.path)]) == 0
    match = json.loads(capsys.readouterr().out)["match"]
    assert (match["code"], match["kind"]) == ("005935", "preferred")
    assert main(["lookup", "삼성전자", "--db", str(real_store.path)]) == 0
    assert capsys.readouterr().out.startswith("005930  삼성전자  KOSPI  보통주  전기전자")


def test_lower_case_file_name(tmp_path: Path) -> None:
    path = write_fdr_csv(tmp_path / "0030r0.csv", price_frame("0030R0", "2024-01-02", 2))
    assert read_price_file(path)["code"].tolist() == ["0030R0", "0030R0"]
