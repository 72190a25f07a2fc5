"""Rows are sane at every entry (issue 21 §2): the CSV import, the csv drop folder, pykrx and the synthetic
market all refuse a row priced 1e20, a close above the high, a Saturday, a volume of 9e18 …, naming the file
and the row; `kstock data check` lists the ones a store already holds. Non-regular files in a drop folder (a
FIFO) are skipped unopened (issue 22)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kstock.cli import main
from kstock.market.csv_import import CsvImportError, import_directory, read_price_file
from kstock.market.pykrx_source import PykrxSource
from kstock.market.row_checks import MAX_VOLUME, BadRowsError, RowColumns, find_bad_rows, require_sane
from kstock.market.sources import CsvDropSource
from kstock.market.store import MarketStore
from support.krx import FakeKrx
from support.stores import data_checksum, price_frame, write_fdr_csv

pytestmark = pytest.mark.timeout(120)  # a FIFO opened by mistake would hang: fail instead

UNTIL = dt.date(2025, 1, 1)
HEADER = "Date,Open,High,Low,Close,Volume\n"
GOOD = ("2024-01-02,100,110,90,105,1000\n"  # Tuesday
        "2024-01-03,105,112,101,110,1200\n")
#: (what is wrong, the third row of the file, what the reason must say)
BAD_ROWS = [
    ("price 1e20", "2024-01-04,1e20,1e20,1e20,1e20,1000", "종가 1e+20원은(는) 가격이 아닙니다"),
    ("high 1e20 only", "2024-01-04,100,1e20,90,105,1000", "고가 1e+20원은(는) 가격이 아닙니다"),
    ("close above the high", "2024-01-04,100,110,90,130,1000", "종가 130이(가) 고가 110보다 높습니다"),
    ("open above the high", "2024-01-04,120,110,90,100,1000", "시가 120이(가) 고가 110보다 높습니다"),
    ("low above the open", "2024-01-04,100,110,105,108,1000", "시가 100이(가) 저가 105보다 낮습니다"),
    ("close below the low", "2024-01-04,100,110,95,80,1000", "종가 80이(가) 저가 95보다 낮습니다"),
    ("high below the low", "2024-01-04,100,90,110,100,1000", "고가 90이(가) 저가 110보다 낮습니다"),
    ("volume 9e18", "2024-01-04,100,110,90,105,9e18", "거래량 9e+18은(는) 0 이상"),
    ("negative volume", "2024-01-04,100,110,90,105,-1", "거래량 -1은(는) 0 이상"),
    ("zero close", "2024-01-04,100,110,90,0,1000", "종가 0원은(는) 가격이 아닙니다"),
    ("a halt that traded", "2024-01-04,0,0,0,105,500", "시가 0원은(는) 가격이 아닙니다"),
    ("Saturday", "2024-01-06,100,110,90,105,1000", "2024-01-06은(는) 토요일입니다 — KRX 거래일이 아닙니다"),
    ("Sunday", "2024-01-07,100,110,90,105,1000", "2024-01-07은(는) 일요일입니다"),
    ("Seollal", "2024-02-09,100,110,90,105,1000", "2024-02-09은(는) KRX 휴장일입니다"),
]


def _store(tmp_path: Path) -> MarketStore:
    return MarketStore(tmp_path / "kstock.db")


def _drop(tmp_path: Path, bad_row: str) -> Path:
    """A folder with one good file and one file whose third line is ``bad_row``."""
    folder = tmp_path / "drop"
    folder.mkdir(exist_ok=True)
    write_fdr_csv(folder / "005930.csv", price_frame("005930", "2024-01-02", 5, base=70_000))
    (folder / "000660.csv").write_text(HEADER + GOOD + bad_row + "\n", encoding="utf-8")
    return folder


def _prices(store: MarketStore, code: str) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM prices WHERE code = ?", (code,)).fetchone()[0]


@pytest.mark.parametrize(("case", "row", "reason"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_import_rejects_the_file_naming_the_row(tmp_path: Path, case: str, row: str, reason: str) -> None:
    with _store(tmp_path) as store:
        report = import_directory(store, _drop(tmp_path, row), progress=False, until=UNTIL)
        assert report.files_ok == 1 and len(report.bad_files) == 1
        name, why = report.bad_files[0]
        assert name == "000660.csv" and why.startswith(f"4행 ({row[:10]}): ") and reason in why, why
        assert "아무것도 가져오지 않았습니다" in why
        assert _prices(store, "000660") == 0 and _prices(store, "005930") == 5  # the good file went in
        assert store.conn.execute("SELECT MAX(close), MAX(volume) FROM prices").fetchone() == (70_400, 1004)


def test_import_positive_controls_halt_rows_and_rounded_adjusted_prices(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "000660.csv").write_text(
        HEADER + GOOD
        + "2024-01-04,0,0,0,110,0\n"  # a KRX halt row: the close carried forward
        + "2024-01-05,3750,3880,3721,3899,431904\n"  # a close 0.5% above the high, as in real adjusted files
        + "2024-01-08,100,100,100,100,0\n",  # no trade but quoted: volume 0 with prices
        encoding="utf-8")
    with _store(tmp_path) as store:
        report = import_directory(store, folder, progress=False, until=UNTIL)
        assert report.bad_files == [] and report.files_ok == 1 and _prices(store, "000660") == 5
        assert store.conn.execute("SELECT halted, open, close FROM prices WHERE date = 20240104").fetchone() == (
            1, None, 110)


@pytest.mark.parametrize("path", ["kospi_2020_2026/000040.csv", "kospi_2020_2026/005930.csv",
                                  "market_2023_2025/000215.csv"])
def test_real_files_with_halts_and_adjusted_closes_pass(krx_dir: Path, path: str) -> None:
    """Real KRX files hold halt rows and closes up to 0.5% above the high (adjusted separately): all sane."""
    frame = read_price_file(krx_dir / path)
    rows = RowColumns.of(frame)
    assert len(find_bad_rows(rows)) == 0 and len(frame) > 300
    assert (rows.close > rows.high).any() or path.endswith("005930.csv")  # the quirk is really there


def test_csv_drop_source_skips_the_bad_file_and_says_which_row(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        report = CsvDropSource(_drop(tmp_path, "2024-01-06,1e20,1e20,1e20,1e20,9e18")).update(store, progress=False)
        assert report.ok and report.tickers_updated == 1
        [warning] = [w for w in report.warnings if w.startswith("000660.csv")]
        assert "4행 (2024-01-06)" in warning and "토요일" in warning
        assert _prices(store, "000660") == 0
        assert store.conn.execute("SELECT MAX(close) FROM prices").fetchone()[0] < 1e6  # 1e20 never stored


def test_a_fifo_named_like_a_csv_is_skipped_unopened(tmp_path: Path) -> None:
    folder = _drop(tmp_path, "2024-01-04,100,110,90,105,1000")  # both files good here
    os.mkfifo(folder / "035720.csv")  # opening it would wait for a writer forever
    with _store(tmp_path) as store:
        report = import_directory(store, folder, progress=False, until=UNTIL)
        assert report.files_ok == 2
        assert report.bad_files == [
            ("035720.csv", "일반 파일이 아닌 FIFO(이름 있는 파이프)입니다 — 열지 않고 건너뛰었습니다")]
        update = CsvDropSource(folder).update(store, progress=False)  # the drop folder's update too
        assert update.ok and any(w.startswith("035720.csv: 일반 파일이 아닌 FIFO") for w in update.warnings)


def test_a_folder_of_only_a_fifo_is_refused_with_its_name(tmp_path: Path, clean_env: None, capsys) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    os.mkfifo(folder / "005930.csv")
    assert main(["data", "import", str(folder), "--no-progress", "--db", str(tmp_path / "k.db")]) == 1
    err = capsys.readouterr().err
    assert "005930.csv: 일반 파일이 아닌 FIFO" in err and "Traceback" not in err


def test_pykrx_drops_bad_rows_of_a_ticker_with_a_logged_reason(tmp_path: Path, caplog) -> None:
    fake = FakeKrx()
    history = fake.history["000660"].astype(float)
    history.loc["2025-06-10", ["시가", "고가", "저가", "종가"]] = 10**20
    history.loc[pd.Timestamp("2025-06-14")] = history.loc["2025-06-13"]  # a Saturday from the source
    fake.history["000660"] = history.sort_index()
    with _store(tmp_path) as store:
        source = PykrxSource(fake, min_interval=0.0, sleep=lambda s: None)
        report = source.update(store, end="2025-06-16", start_default="2025-06-02", progress=False)
        assert report.ok
        [warning] = [w for w in report.warnings if w.startswith("000660")]
        assert "잘못된 행 2개를 저장하지 않았습니다" in warning and "2025-06-10" in warning
        assert warning in caplog.text  # logged, not only returned
        days = [d for (d,) in store.conn.execute("SELECT date FROM prices WHERE code = '000660' ORDER BY date")]
        assert 20250610 not in days and 20250614 not in days and len(days) == 8  # the other sessions are stored
        assert _prices(store, "005930") == 9  # other tickers untouched by one ticker's fault
        assert store.conn.execute("SELECT MAX(close) FROM prices").fetchone()[0] < 1e6


def test_synthetic_rows_are_checked_before_they_are_stored() -> None:
    clean = price_frame("005930", "2024-01-02", 5)
    assert require_sane(clean, "synthetic") is clean
    bad = clean.copy()
    bad.loc[2, "volume"] = 9e18
    with pytest.raises(BadRowsError, match=r"synthetic: 005930 2024-01-04: 거래량 9e\+18"):
        require_sane(bad, "synthetic")


def test_the_rule_finds_every_bad_row_and_only_those() -> None:
    frame = price_frame("005930", "2024-01-02", 6)
    frame.loc[1, ["open", "high", "low", "volume"]] = 0  # a halt: sane
    frame.loc[2, "close"] = np.inf
    frame.loc[4, "volume"] = MAX_VOLUME
    bad = find_bad_rows(RowColumns.of(frame))
    assert bad.positions.tolist() == [2, 4]
    assert bad.reasons[0].startswith("종가 inf원은(는) 가격이 아닙니다")


# ---- `kstock data check` and `data status` ----------------------------------------------------------------

@pytest.fixture
def old_store(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store an older kstock filled, written around the entries: four bad price rows beside clean ones and a
    halt, and a Saturday in the index."""
    db = tmp_path / "old.db"
    monkeypatch.setenv("KSTOCK_DB", str(db))
    clean = price_frame("005930", "2024-01-02", 5, base=70_000)
    clean.loc[2, ["open", "high", "low", "volume"]] = 0  # a halt row stays valid
    bad = price_frame("000660", "2024-01-02", 4, base=140_000)
    bad.loc[0, ["open", "high", "low", "close"]] = 1e20
    bad.loc[1, "close"] = bad.loc[1, "high"] + 5_000
    bad.loc[2, "volume"] = 9e18
    saturday = price_frame("035720", "2024-01-06", 1)  # pandas' business days start on Monday 01-08:
    saturday["date"] = pd.Timestamp("2024-01-06")  # a Saturday, as a stray row writes it
    with MarketStore(db) as store:
        store.upsert_prices(pd.concat([clean, bad, saturday], ignore_index=True))
        store.upsert_index("KOSPI", pd.DataFrame({"date": pd.to_datetime(["2024-01-05", "2024-01-13"]),
                                                  "close": [2578.08, 2525.05]}))  # 01-13: a Saturday
    return db


def test_data_check_lists_every_bad_row_and_exits_1(old_store: Path, capsys) -> None:
    before = data_checksum(old_store)
    assert main(["data", "check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "잘못된 가격 행: 5개"
    assert out[1].startswith("  000660 2024-01-02: 종가 1e+20원은(는) 가격이 아닙니다")
    assert out[2].startswith("  000660 2024-01-03: 종가 145200이(가) 고가 140200보다 높습니다")
    assert out[3].startswith("  000660 2024-01-04: 거래량 9e+18")
    assert out[4] == "  035720 2024-01-06: 2024-01-06은(는) 토요일입니다 — KRX 거래일이 아닙니다"
    assert out[5] == "  KOSPI 2024-01-13: 2024-01-13은(는) 토요일입니다 — KRX 거래일이 아닙니다"
    # 01-06 holds only the stray Saturday row, 01-08 only 005930: neither is a complete day
    assert out[-1] == "요약: 잘못된 가격 행 5개, 불완전한 거래일 2개, 시세보다 늦은 지수 0개"
    assert main(["data", "check", "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is False and payload["total"] == 7
    section = payload["sections"][0]
    assert section["key"] == "bad_rows" and section["count"] == 5
    assert section["findings"][0] == {"code": "000660", "date": "2024-01-02",
                                      "reason": section["findings"][0]["reason"]}
    assert data_checksum(old_store) == before  # checking changes nothing


def test_data_status_shows_the_bad_row_count(old_store: Path, capsys) -> None:
    assert main(["data", "status"]) == 0
    assert "⚠️ 점검: 잘못된 가격 행 5개 — 목록은 `kstock data check`" in capsys.readouterr().out
    assert main(["data", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bad_rows"] == 5


def test_admins_status_shows_the_bad_row_line_counted_once_per_data_version(
        old_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Admins' /status carries `data status`' line about `data check`; the count (a scan of every row) is made
    once per data version, and a data update that brought another bad row is counted anew."""
    from kstock.bot.messages import status_text
    from kstock.config import Settings
    from kstock.market import store_summary
    from kstock.service.context import Services
    from kstock.service.status import service_status

    scans: list[int] = []
    count = store_summary.count_bad_rows
    monkeypatch.setattr(store_summary, "count_bad_rows", lambda store: scans.append(1) or count(store))
    services = Services(Settings.from_env())
    try:
        state = service_status(services, checks=True)
        line = "⚠️ 점검: 잘못된 가격 행 5개 — 목록은 `kstock data check`"
        assert state["bad_rows"] == 5 and line in status_text(state, admin=True).splitlines()
        assert line not in status_text(state, admin=False)
        assert "bad_rows" not in service_status(services) and len(scans) == 1  # a user's /status counts nothing
        assert service_status(services, checks=True)["bad_rows"] == 5 and len(scans) == 1  # asked again: no scan
        with MarketStore(old_store) as writer:  # another process's update brings one more bad row
            late = price_frame("005930", "2024-01-09", 1, base=70_000)
            late.loc[0, "close"] = 1e20
            writer.upsert_prices(late)
            writer.log_update("csv:old", 1, "ok")
        state = service_status(services, checks=True)
        assert state["bad_rows"] == 6 and len(scans) == 2
        assert "⚠️ 점검: 잘못된 가격 행 6개" in status_text(state, admin=True)
    finally:
        services.close()


def test_data_check_on_a_clean_store_exits_0(tmp_path: Path, clean_env: None, monkeypatch, capsys) -> None:
    db = tmp_path / "clean.db"
    monkeypatch.setenv("KSTOCK_DB", str(db))
    with MarketStore(db) as store:
        frame = price_frame("005930", "2024-01-02", 5)
        frame.loc[3, ["open", "high", "low", "volume"]] = 0  # a halt row is no bad row
        store.upsert_prices(frame)
    assert main(["data", "check"]) == 0
    assert capsys.readouterr().out.splitlines() == ["잘못된 가격 행: 없음", "불완전한 거래일: 없음",
                                                    "시세보다 늦은 지수: 없음", "요약: 문제 없음"]
    assert main(["data", "check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["data", "status"]) == 0
    assert "점검:   잘못된 가격 행 없음" in capsys.readouterr().out


@pytest.fixture
def gappy_store(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """20 clean names over 2024-01-02 … 01-15 with no bad row, where 01-05 came in part (8 of 20 names: a
    partial drop folder) and the KOSPI index ends 01-10, three sessions before the prices."""
    db = tmp_path / "gappy.db"
    monkeypatch.setenv("KSTOCK_DB", str(db))
    frames = [price_frame(f"{i:06d}", "2024-01-02", 10, base=10_000 + 100 * i) for i in range(1, 21)]
    frames = [f[(f["date"] != "2024-01-05") | (i < 8)] for i, f in enumerate(frames)]
    with MarketStore(db) as store:
        store.upsert_prices(pd.concat(frames, ignore_index=True))
        store.upsert_index("KOSPI", pd.DataFrame({"date": pd.bdate_range("2024-01-02", "2024-01-10"),
                                                  "close": [2600.0 + i for i in range(7)]}))
    return db


def test_data_check_lists_incomplete_days_and_lagging_series(gappy_store: Path, capsys) -> None:
    before = data_checksum(gappy_store)
    assert main(["data", "check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "잘못된 가격 행: 없음"
    assert out[1] == "불완전한 거래일: 1개"
    assert out[2].startswith("  2024-01-05: 8/20종목 (40.0%, 기준 95%) — 빠진 종목: 000009, 000010")
    assert out[3] == "시세보다 늦은 지수: 1개"
    assert out[4].startswith("  ⚠️ KOSPI 지수가 3거래일 늦음 (2024-01-10까지, 시세는 2024-01-15)")
    assert out[-1] == "요약: 잘못된 가격 행 0개, 불완전한 거래일 1개, 시세보다 늦은 지수 1개"
    assert main(["data", "check", "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is False and payload["total"] == 2
    sections = {s["key"]: s for s in payload["sections"]}
    [day] = sections["incomplete_days"]["findings"]
    assert (day["day"], day["count"], day["expected"]) == ("2024-01-05", 8, 20)
    assert day["missing"] == [f"{i:06d}" for i in range(9, 21)]
    assert sections["lagging_series"]["findings"] == [
        {"name": "KOSPI", "last_date": "2024-01-10", "prices_last": "2024-01-15", "lag_sessions": 3}]
    assert data_checksum(gappy_store) == before  # checking changes nothing


def test_an_index_file_with_a_saturday_or_1e20_is_refused(tmp_path: Path) -> None:
    folder = _drop(tmp_path, "2024-01-04,100,110,90,105,1000")
    for row, reason in (("2024-01-06,2600", "4행 (2024-01-06): 2024-01-06은(는) 토요일입니다"),
                        ("2024-01-04,1e20", "4행 (2024-01-04): 종가 1e+20원은(는) 가격이 아닙니다")):
        index = tmp_path / "kospi.csv"
        index.write_text(f"Date,Close\n2024-01-02,2669.81\n2024-01-03,2607.31\n{row}\n", encoding="utf-8")
        with _store(tmp_path) as store:
            before = data_checksum(tmp_path / "kstock.db")
            with pytest.raises(CsvImportError, match=r"kospi\.csv: " + re.escape(reason)):
                import_directory(store, folder, index_files={"KOSPI": index}, progress=False, until=UNTIL)
            assert data_checksum(tmp_path / "kstock.db") == before  # nothing written, prices neither


def test_saturday_sessions_before_december_1998_are_sessions(krx_dir: Path, tmp_path: Path) -> None:
    """KRX traded on Saturdays until 1998-12-05: the real index files hold 177 of them, all sane."""
    folder = _drop(tmp_path, "2024-01-04,100,110,90,105,1000")
    (folder / "000270.csv").write_text(HEADER + "1998-12-05,100,110,90,105,1000\n", encoding="utf-8")
    with _store(tmp_path) as store:
        report = import_directory(store, folder, index_files={"KOSPI": krx_dir / "index" / "kospi.csv"},
                                  progress=False, until=dt.date(2026, 12, 31))
        assert report.bad_files == [] and report.index_rows["KOSPI"] > 7000
        assert store.conn.execute("SELECT COUNT(*) FROM index_prices WHERE date = 19981205").fetchone()[0] == 1
    rows = find_bad_rows(RowColumns.of(price_frame("000270", "1998-12-12", 1).assign(date=pd.Timestamp("1998-12-12"))))
    assert "토요일" in rows.reasons[0]  # the next Saturday was no session any more


def test_pykrx_drops_a_bad_index_row(tmp_path: Path) -> None:
    fake = FakeKrx()
    kospi = fake.index["1001"].astype(float)
    kospi.loc["2025-06-11", "종가"] = np.inf
    fake.index["1001"] = kospi
    with _store(tmp_path) as store:
        report = PykrxSource(fake, min_interval=0.0, sleep=lambda s: None).update(
            store, end="2025-06-13", start_default="2025-06-02", progress=False)
        assert report.ok and any(w.startswith("KOSPI index: 잘못된 행 1개") for w in report.warnings)
        assert len(store.load_index("KOSPI")) == 7 and len(store.load_index("KOSDAQ")) == 8
