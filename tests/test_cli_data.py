"""`kstock data import|synth|update|status` and `kstock lookup`: results, help, and every bad input.

Each bad input must give one clear line on stderr, a non-zero exit and an unchanged store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kstock.cli import main
from kstock.market.store import MarketStore
from support.stores import data_checksum, price_frame, store_checksum, write_fdr_csv, write_pykrx_csv

REPO = Path(__file__).resolve().parents[1]
TOKEN = "987654321:AAFsuper-secret_token_do_not_print_42"
TICKERS_CSV = (
    "code,name,market,ksic_industry\n"
    "005930,삼성전자,KOSPI,통신 및 방송 장비 제조업\n"
    "005935,삼성전자우,KOSPI,\n"
    "035720,카카오,KOSPI,\n"
    "069500,KODEX 200,ETF,\n"
)
SECTORS_CSV = '"","종목코드","종목명","시장구분","업종명"\n"1","035720","카카오","KOSPI","서비스업"\n'
INDEX_CSV = (
    "Date,Close,UpDown,Comp,Change,Open,High,Low,Volume,Amount,MarCap\n"
    "2024-01-02,2669.81,1,14.53,0.0055,2645.47,2676.33,2641.64,1,1,\n"
    "2024-01-03,2607.31,2,-62.5,-0.0234,2661.85,2662.26,2603.14,1,1,\n"
)


@pytest.fixture(autouse=True)
def _clean_env(clean_env: None) -> None:
    """No .env or KSTOCK_* from the developer's shell reaches the in-process CLI (conftest.clean_env)."""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A workspace: price folder (both dialects), tickers/sectors/index files, and KSTOCK_DB set."""
    prices = tmp_path / "prices"
    prices.mkdir()
    samsung = price_frame("005930", "2024-01-02", 8, base=78_000)
    samsung.loc[3, ["open", "high", "low", "volume"]] = 0  # a halt row
    write_pykrx_csv(prices / "005930.csv", samsung)
    write_pykrx_csv(prices / "005935.csv", price_frame("005935", "2024-01-02", 8, base=62_000))
    write_fdr_csv(prices / "035720.csv", price_frame("035720", "2024-01-02", 8, base=55_000))
    out = {"prices": prices, "db": tmp_path / "kstock.db", "tickers": tmp_path / "tickers.csv",
           "sectors": tmp_path / "sectors.csv", "index": tmp_path / "kospi.csv"}
    out["tickers"].write_text(TICKERS_CSV, encoding="utf-8")
    out["sectors"].write_text(SECTORS_CSV, encoding="utf-8")
    out["index"].write_text(INDEX_CSV, encoding="utf-8")
    monkeypatch.setenv("KSTOCK_DB", str(out["db"]))
    return out


def _import(ws: dict[str, Path], *extra: str) -> int:
    return main(["data", "import", str(ws["prices"]), "--tickers", str(ws["tickers"]), "--sectors", str(ws["sectors"]),
                 "--index", f"KOSPI={ws['index']}", "--no-progress", *extra])


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("kstock: 오류: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def filled(ws: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    assert _import(ws) == 0
    capsys.readouterr()
    return ws


# --- import, re-import, status --------------------------------------------------------------------


def test_import_then_reimport_is_idempotent(ws: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _import(ws) == 0
    out, err = capsys.readouterr()
    assert "파일 3개, 24행을 읽어 30행을 쓰거나 바꿨습니다 (종목 4개)" in out  # 4 tickers + 24 prices + 2 index rows
    assert "지수 KOSPI: 2행" in out and err == ""
    before = data_checksum(ws["db"])
    assert _import(ws) == 0
    out, _ = capsys.readouterr()
    assert "24행을 읽어 0행을 쓰거나 바꿨습니다" in out
    assert data_checksum(ws["db"]) == before


def test_db_option_wins_over_kstock_db(ws: dict[str, Path], tmp_path: Path, capsys) -> None:
    other = tmp_path / "other.db"
    assert main(["data", "import", str(ws["prices"]), "--no-progress", "--db", str(other)]) == 0
    assert other.exists() and not ws["db"].exists()
    assert "경고: 종목 3개는 가격은 있지만 종목 파일에 행이 없습니다" in capsys.readouterr().err


def test_status_json(filled: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {"tickers", "rows", "first_date", "last_date", "by_kind", "by_sector"} <= set(status)
    assert status["tickers"] == 4 and status["rows"] == 24
    assert status["first_date"] == "2024-01-02" and status["last_date"] == "2024-01-11"
    assert status["by_kind"] == {"common": 2, "etf": 1, "preferred": 1}
    assert status["by_sector"] == {"전기전자": 1, "서비스업": 1}
    assert status["halt_days"] == 1 and status["indices"]["KOSPI"]["rows"] == 2
    assert status["last_update"]["source"] == "csv:prices"


def test_status_text(filled: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "종목: 4" in out and "24행, 2024-01-02 → 2024-01-11, 거래정지 행 1개" in out
    assert "지수: KOSPI 2행" in out and "전기전자" in out and "서비스업" in out


def test_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "synth.db"
    assert main(["data", "synth", "--tickers", "25", "--years", "0.5", "--seed", "3", "--db", str(db)]) == 0
    assert "합성 시장: 종목 25개" in capsys.readouterr().out
    before = data_checksum(db)
    assert main(["data", "synth", "--tickers", "25", "--years", "0.5", "--seed", "3", "--db", str(db)]) == 0
    assert "(바뀐 행 0개)" in capsys.readouterr().out
    assert data_checksum(db) == before


@pytest.mark.parametrize(("args", "message"), [(["--tickers", "5"], "`--tickers`는 25에서 5000 사이"),
                                               (["--years", "100"], "`--years`는 0.5에서 30 사이")])
def test_synth_bad_arguments(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    db = tmp_path / "synth.db"
    assert main(["data", "synth", *args, "--db", str(db)]) == 1
    assert message in _one_error_line(capsys.readouterr().err)
    assert not db.exists()


def test_update_offline_keeps_the_store_and_says_how_old(filled: dict[str, Path], monkeypatch, capsys) -> None:
    import requests

    from kstock.market import pykrx_source

    class Offline:
        def __getattr__(self, name: str):
            def fail(*args, **kwargs):
                raise requests.exceptions.ConnectionError("no network")

            return fail

    def offline(settings, **kwargs):
        return pykrx_source.PykrxSource(Offline(), settings=settings, retries=1, sleep=lambda s: None,
                                        min_interval=0.0)

    monkeypatch.setattr(pykrx_source.PykrxSource, "from_settings", staticmethod(offline))
    monkeypatch.setenv("KSTOCK_DATA_SOURCE", "pykrx")
    before = data_checksum(filled["db"])
    assert main(["data", "update", "--end", "2024-01-19"]) == 1
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert "저장된 데이터로 계속 제공합니다: 2024-01-11 기준" in line  # the age of the data that is still served
    assert out == ""
    assert data_checksum(filled["db"]) == before


# --- lookup ---------------------------------------------------------------------------------------


def test_lookup(filled: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lookup", "삼성전자"]) == 0
    assert capsys.readouterr().out.split()[:4] == ["005930", "삼성전자", "KOSPI", "보통주"]
    assert main(["lookup", "삼성전자우", "--json"]) == 0
    match = json.loads(capsys.readouterr().out)["match"]
    assert match["code"] == "005935" and match["kind"] == "preferred"
    assert set(match) == {"code", "name", "market", "kind", "sector_id", "sector_name"}
    assert main(["lookup", "035720", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["match"]["sector_name"] == "서비스업"


def test_lookup_near_miss_suggests(filled: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lookup", "삼송전자"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "삼성전자" in line and "혹시" in line
    assert main(["lookup", "삼송전자", "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["match"] is None and answer["suggestions"][0]["code"] == "005930"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("999999", "등록되지 않은 종목코드"),
        ("005931", "혹시 이 종목인가요? 005930 삼성전자"),
        ("", "종목명이나 종목코드를 입력하세요"),
        ("   ", "종목명이나 종목코드를 입력하세요"),
        ("가" * 10_000, "입력이 너무 깁니다"),
    ],
)
def test_lookup_bad_queries(filled: dict[str, Path], capsys, query: str, message: str) -> None:
    before = store_checksum(filled["db"])
    assert main(["lookup", query]) == 1
    out, err = capsys.readouterr()
    assert message in _one_error_line(err) and out == ""
    assert len(err) < 400
    assert store_checksum(filled["db"]) == before


# --- bad input: one line, non-zero, store unchanged -----------------------------------------------


def _bad_import_args(case: str, ws: dict[str, Path], tmp: Path) -> tuple[list[str], str]:
    base = ["data", "import", "--no-progress"]
    if case == "no csv":
        (tmp / "empty").mkdir()
        return [*base, str(tmp / "empty")], ".csv 파일이 없습니다"
    if case == "missing dir":
        return [*base, str(tmp / "absent")], "폴더가 아닙니다"
    if case == "unknown dialect":
        (tmp / "odd").mkdir()
        (tmp / "odd" / "005930.csv").write_text("time,price\n2024-01-02,1\n", encoding="utf-8")
        return [*base, str(tmp / "odd")], "알 수 없는 CSV 형식"
    if case == "missing columns":
        (tmp / "cols").mkdir()
        (tmp / "cols" / "005930.csv").write_text("Date,Open,High,Low,Close\n2024-01-02,1,1,1,1\n", encoding="utf-8")
        return [*base, str(tmp / "cols")], "형식의 열 Volume"
    if case == "duplicate tickers":
        dup = tmp / "dup.csv"
        dup.write_text(TICKERS_CSV + "5930,삼성전자 again,KOSPI,\n", encoding="utf-8")
        return [*base, str(ws["prices"]), "--tickers", str(dup)], "코드가 겹칩니다 (005930)"
    if case == "bad index option":
        return [*base, str(ws["prices"]), "--index", "KOSPI"], "`이름=파일` 형식"
    if case == "missing index file":
        return [*base, str(ws["prices"]), "--index", f"KOSPI={tmp / 'absent.csv'}"], "이(가) 없습니다"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no csv", "missing dir", "unknown dialect", "missing columns", "duplicate tickers",
                                  "bad index option", "missing index file"])
def test_bad_import_changes_nothing(filled: dict[str, Path], tmp_path: Path, capsys, case: str) -> None:
    args, message = _bad_import_args(case, filled, tmp_path)
    before = store_checksum(filled["db"])
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert message in _one_error_line(err)
    assert "쓰거나 바꿨습니다" not in out
    assert store_checksum(filled["db"]) == before


def test_bad_file_among_good_ones(filled: dict[str, Path], tmp_path: Path, capsys) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    write_fdr_csv(batch / "000660.csv", price_frame("000660", "2024-01-02", 5, base=140_000))
    for name, row in (("000001", "2024-01-02,abc,1,1,1,1"), ("000002", "2024-01-02,-1,1,1,1,1"),
                      ("000003", "2024-01-02,1,1,2,1,1")):
        (batch / f"{name}.csv").write_text(f"Date,Open,High,Low,Close,Volume\n{row}\n", encoding="utf-8")
    (batch / "000004.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,1\n2024-01-02,1,2,1,1,1\n",
                                      encoding="utf-8")
    with MarketStore(filled["db"]) as store:
        stored = store.load_panel()
    assert main(["data", "import", str(batch), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "파일 1개, 5행을 읽어" in out
    assert "건너뜀 000001.csv: 2행 (2024-01-02): 시가 'abc'은(는) 숫자가 아닙니다" in err
    assert "건너뜀 000002.csv: 2행 (2024-01-02): 시가 -1원은(는) 가격이 아닙니다" in err
    assert "건너뜀 000003.csv: 2행 (2024-01-02): 고가 1이(가) 저가 2보다 낮습니다" in err
    assert "건너뜀 000004.csv: 3행 (2024-01-02): 2행과 같은 날짜입니다" in err
    with MarketStore(filled["db"]) as store:
        panel = store.load_panel()
        assert store.get_ticker("005930").name == "삼성전자"
    assert "000660" in panel.codes and not {"000001", "000002", "000003", "000004"} & set(panel.codes)
    for code in stored.codes:
        assert (panel.frame(code).reindex(stored.dates).fillna(-1) == stored.frame(code).fillna(-1)).all().all()


def test_text_file_as_db(ws: dict[str, Path], tmp_path: Path, capsys) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n", encoding="utf-8")
    for args in (["data", "status"], ["lookup", "삼성전자"], ["data", "import", str(ws["prices"]), "--no-progress"]):
        assert main([*args, "--db", str(text)]) == 1
        assert "SQLite 파일이 아님" in _one_error_line(capsys.readouterr().err)
    assert text.read_text(encoding="utf-8") == "hello\n"


def test_newer_store_is_refused(ws: dict[str, Path], capsys) -> None:
    import sqlite3

    conn = sqlite3.connect(ws["db"])
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    assert main(["data", "status"]) == 1
    assert "newer kstock" in _one_error_line(capsys.readouterr().err)


def test_bad_setting_names_the_variable(filled: dict[str, Path], monkeypatch, capsys) -> None:
    monkeypatch.setenv("KSTOCK_TOP_K", "abc")
    before = store_checksum(filled["db"])
    assert main(["data", "status"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "KSTOCK_TOP_K" in line and "abc" in line and "1 이상의 정수" in line
    assert store_checksum(filled["db"]) == before


def test_bad_setting_in_dotenv(ws: dict[str, Path], tmp_path: Path, capsys) -> None:
    (tmp_path / ".env").write_text("KSTOCK_DATA_SOURCE=yahoo\n", encoding="utf-8")  # cwd is tmp_path
    assert main(["data", "status"]) == 1
    assert "KSTOCK_DATA_SOURCE" in _one_error_line(capsys.readouterr().err)


def test_token_never_printed(filled: dict[str, Path], monkeypatch, capsys) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("KRX_PW", "Pw!s3cret-xyz")
    monkeypatch.setenv("KSTOCK_TOP_K", "-3")  # fails after the secrets were read
    assert main(["data", "status", "--json"]) == 1
    out, err = capsys.readouterr()
    assert "KSTOCK_TOP_K" in err
    assert TOKEN not in out + err and "AAFsuper" not in out + err and "Pw!s3cret" not in out + err


# --- help -----------------------------------------------------------------------------------------

HELP = {
    (): ["data", "lookup", "투자 권유가 아닙니다"],
    ("data",): ["import", "synth", "update", "status", "prune"],
    ("data", "import"): ["pykrx", "FinanceDataReader", "--tickers", "--sectors", "--index", "NAME=FILE", "--db"],
    ("data", "synth"): ["합성", "--tickers", "--years", "--seed", "--db"],
    ("data", "update"): ["KSTOCK_DATA_SOURCE", "pykrx", "csv", "synthetic", "소스가 실패하면", "--codes", "--end",
                         "--db"],
    ("data", "prune"): ["--after", "--yes", "--db"],
    ("data", "status"): ["--json", "--db"],
    ("lookup",): ["삼성전자", "--json", "--db", "후보"],
}


@pytest.mark.parametrize("path", list(HELP))
def test_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for word in HELP[path]:
        assert word in out, (path, word)


def test_missing_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([], ["data"], ["data", "import"], ["lookup"]):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        assert "오류:" in (err := capsys.readouterr().err) and "사용법은 `kstock" in err


# --- a real process -------------------------------------------------------------------------------


def test_real_process_exit_codes_and_stderr(ws: dict[str, Path], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KSTOCK_", "TELEGRAM_", "KRX_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kstock", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)

    bad = run("lookup", "삼성전자", "--db", str(text))
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().startswith("kstock: 오류: ") and "SQLite 파일이 아님" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    ok = run("data", "import", str(ws["prices"]), "--tickers", str(ws["tickers"]), "--db", str(ws["db"]))
    assert ok.returncode == 0 and "파일 3개" in ok.stdout


# --- rows from the future -------------------------------------------------------------------------


@pytest.mark.parametrize("future", ["2199-12-31", "2026-12-01"])
def test_a_future_dated_row_is_refused_with_file_and_row_named(filled: dict[str, Path], tmp_path: Path, capsys,
                                                               future: str) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    write_fdr_csv(batch / "000660.csv", price_frame("000660", "2024-01-02", 3, base=140_000))
    (batch / "000670.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,1\n"
                                      f"{future},1,2,1,1,1\n", encoding="utf-8")
    before = store_checksum(filled["db"], ("prices",))
    assert main(["data", "import", str(batch), "--no-progress", "--until", "2026-11-26"]) == 0
    out, err = capsys.readouterr()
    assert "파일 1개" in out
    assert f"건너뜀 000670.csv: 3행 ({future}): 미래 날짜입니다 (2026-11-26 이후)" in err
    with MarketStore(filled["db"]) as store:
        assert "000670" not in store.load_panel().codes and str(store.trading_days()[-1]) < "2026-11-26"
    assert store_checksum(filled["db"], ("prices",)) != before  # the good file went in


def test_default_until_is_today_in_seoul(filled: dict[str, Path], tmp_path: Path, capsys) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "000670.csv").write_text("Date,Open,High,Low,Close,Volume\n2199-12-31,1,2,1,1,1\n", encoding="utf-8")
    assert main(["data", "import", str(batch), "--no-progress"]) == 1
    assert "(2199-12-31): 미래 날짜입니다" in capsys.readouterr().err


def test_status_reports_future_rows_and_prune_removes_them(filled: dict[str, Path], capsys) -> None:
    with MarketStore(filled["db"]) as store:  # a store an older kstock filled before the check existed
        store.upsert_prices(price_frame("005930", "2199-12-30", 2, base=90_000))
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "이후 날짜의 가격 2행과 지수 0행이 있습니다" in out and "kstock data prune --after" in out
    assert main(["data", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["future_rows"] == {"prices": 2, "index": 0}
    before = data_checksum(filled["db"])
    assert main(["data", "prune", "--after", "2026-11-26"]) == 1  # no --yes: counts only, nothing removed
    assert "가격 2행" in capsys.readouterr().out and data_checksum(filled["db"]) == before
    assert main(["data", "prune", "--after", "2026-11-26", "--yes"]) == 0
    assert "가격 2행, 지수 0행을 지웠습니다" in capsys.readouterr().out
    assert main(["data", "status", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["future_rows"] is None and payload["last_date"] == "2024-01-11"
    with pytest.raises(SystemExit) as info:  # an argparse error, before the store is touched
        main(["data", "prune", "--after", "someday", "--yes"])
    assert info.value.code == 2 and "날짜로 읽을 수 없습니다" in capsys.readouterr().err


def test_update_uses_the_configured_source(filled: dict[str, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    # csv: the drop folder's new rows go in; synthetic on a store it did not make says so; bad flags refused
    drop = tmp_path / "drop"
    drop.mkdir()
    write_fdr_csv(drop / "005930.csv", price_frame("005930", "2024-01-12", 2, base=80_000))
    monkeypatch.setenv("KSTOCK_DATA_SOURCE", "csv")
    monkeypatch.setenv("KSTOCK_CSV_DIR", str(drop))
    assert main(["data", "update"]) == 0
    assert "csv: 파일 1개, 새로 쓰거나 바뀐 행 2개" in capsys.readouterr().out
    assert main(["data", "update"]) == 0
    assert "새로 쓰거나 바뀐 행 0개" in capsys.readouterr().out  # only new rows are written
    assert main(["data", "update", "--codes", "005930"]) == 1
    assert "`KSTOCK_DATA_SOURCE=pykrx`에서만" in _one_error_line(capsys.readouterr().err)
    monkeypatch.setenv("KSTOCK_DATA_SOURCE", "synthetic")
    before = data_checksum(filled["db"])
    assert main(["data", "update"]) == 1
    assert "kstock data synth" in _one_error_line(capsys.readouterr().err)
    assert data_checksum(filled["db"]) == before
