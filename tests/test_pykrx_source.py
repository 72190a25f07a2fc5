"""The pykrx source against fake clients: incremental, all-or-nothing, honest about stale data. No network."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import requests

from kstock.config import Settings
from kstock.market import pykrx_source
from kstock.market.fetching import PoliteCaller, SourceRefused, SourceUnreachable
from kstock.market.freshness import data_age, describe_age, last_final_day
from kstock.market.pykrx_source import PykrxSource
from kstock.market.repositories.meta import last_good_update, last_update
from kstock.market.store import MarketStore
from kstock.market.types import InstrumentKind, MarketData, Ticker
from support.krx import PRICED, Broken, FakeKrx, catch, logout, logout_response

CREDS = Settings(krx_id="kim_trader77", krx_pw="Pw!s3cret-xyz")


def _source(client, **kw) -> PykrxSource:
    kw.setdefault("min_interval", 0.0)
    kw.setdefault("sleep", lambda s: None)
    return PykrxSource(client, **kw)


def _fingerprint(store: MarketStore) -> tuple:
    parts = []
    for table in ("prices", "tickers", "index_prices"):
        rows = store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        parts.append((len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()))
    return tuple(parts)


@pytest.fixture
def store(tmp_path: Path):
    with MarketStore(tmp_path / "kstock.db") as s:
        yield s


@pytest.fixture
def filled(store: MarketStore) -> MarketStore:
    """A store holding 2025-06-02..06-13 from a good update."""
    report = _source(FakeKrx()).update(store, end="2025-06-13", start_default="2025-06-02", progress=False)
    assert report.ok, report.message
    return store


def _rows(store: MarketStore, code: str) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM prices WHERE code = ?", (code,)).fetchone()[0]


# -- a good update ----------------------------------------------------------------------------------
def test_first_update_stores_prices_tickers_and_indices(store: MarketStore) -> None:
    fake = FakeKrx()
    report = _source(fake).update(store, end="2025-06-13", start_default="2025-06-02", progress=False)
    assert report.ok and report.tickers_updated == 4
    assert report.data_last_date == "2025-06-13"
    for code in PRICED:
        assert _rows(store, code) == 8  # 06-02 … 06-13: ten weekdays, two of them KRX holidays (06-03, 06-06)
    assert sorted(args[2] for args in fake.seen("get_market_ohlcv")) == PRICED
    assert {args[0] for args in fake.seen("get_market_ohlcv")} == {"20250602"}
    panel = store.load_panel(codes=["005930"])
    first = fake.history["005930"].iloc[0]
    assert panel.ohlcv[0, 0].tolist() == [first["시가"], first["고가"], first["저가"], first["종가"], first["거래량"]]
    kospi = store.load_index("KOSPI")
    assert len(kospi) == 8 and kospi["close"].iloc[-1] == fake.index["1001"].loc["2025-06-13", "종가"]
    assert len(store.load_index("KOSDAQ")) == 8
    kinds = {t.code: t.kind for t in store.tickers()}
    assert kinds["005935"] == InstrumentKind.PREFERRED and kinds["005930"] == InstrumentKind.COMMON
    assert kinds["330590"] == InstrumentKind.REIT and kinds["455310"] == InstrumentKind.SPAC
    assert store.get_ticker("005930").sector_id == 0 and store.get_ticker("005930").name == "삼성전자"
    assert last_good_update(store)["source"] == "pykrx"


def test_second_update_fetches_only_new_days(filled: MarketStore) -> None:
    fake = FakeKrx()
    report = _source(fake).update(filled, end="2025-06-20", start_default="2025-06-02", progress=False)
    assert report.ok and report.tickers_updated == 4
    # prices start at the last stored day (the overlap shows a re-adjusted history), indices the day after
    assert {args[0] for args in fake.seen("get_market_ohlcv")} == {"20250613"}
    assert {args[1] for args in fake.seen("get_market_ohlcv")} == {"20250620"}
    assert {args[0] for args in fake.seen("get_index_ohlcv")} == {"20250614"}
    assert report.rows_changed == 4 * 5 + 2 * 5  # the overlap day is unchanged, so not counted
    assert all(_rows(filled, code) == 13 for code in PRICED)
    again = _source(fake).update(filled, end="2025-06-20", progress=False)
    assert again.ok and again.rows_changed == 0 and again.tickers_updated == 0
    assert len(fake.seen("get_market_ohlcv")) == 4  # up to date: no price call at all the second time


def test_readjusted_history_is_refetched_whole(filled: MarketStore) -> None:
    fake = FakeKrx()
    fake.history["005930"] = fake.history["005930"] // 2  # a 2:1 split re-bases Naver's adjusted series
    report = _source(fake).update(filled, end="2025-06-20", start_default="2025-06-02", progress=False)
    assert report.ok
    assert ("20250602", "20250620", "005930") in fake.seen("get_market_ohlcv")
    assert any("005930" in w and "adjusted" in w for w in report.warnings)
    stored = filled.load_panel(codes=["005930"]).close[0]
    assert stored.tolist() == fake.history["005930"]["종가"].astype(float).tolist()


def test_known_tickers_keep_sector_and_listing_date(store: MarketStore) -> None:
    store.upsert_tickers([Ticker("000660", "하이닉스", "KOSPI", sector_id=5, listing_date="1996-12-26")])
    assert _source(FakeKrx()).update(store, end="2025-06-13", start_default="2025-06-10", progress=False).ok
    hynix = store.get_ticker("000660")
    assert (hynix.name, hynix.sector_id, hynix.listing_date) == ("SK하이닉스", 5, "1996-12-26")


def test_weekend_end_uses_last_listed_day_and_codes_filter(store: MarketStore) -> None:
    fake = FakeKrx()
    fake.closed.add("20250613")  # e.g. an unscheduled closure: KRX lists nothing, step back a day
    report = _source(fake).update(store, codes=["005930", "999999"], end="2025-06-15", start_default="2025-06-10",
                                  progress=False)
    assert report.ok
    assert [a[0] for a in fake.seen("get_market_ticker_list")] == ["20250613", "20250613", "20250612", "20250612"]
    assert fake.seen("get_market_ohlcv") == [("20250610", "20250612", "005930")]
    assert [t.code for t in store.tickers()] == ["005930"] and _rows(store, "005930") == 3
    assert any("999999" in w for w in report.warnings)


def test_names_fall_back_to_ticker_name_lookup(store: MarketStore) -> None:
    fake = FakeKrx()
    # KRX has no 업종 table (pykrx raises KeyError on its empty answer): names come one by one
    source = _source(Broken(fake, {"get_market_sector_classifications"}, KeyError("종가")))
    assert source.update(store, end="2025-06-13", start_default="2025-06-12", progress=False).ok
    assert len(fake.seen("get_market_ticker_name")) == 6
    assert store.get_ticker("005935").name == "삼성전자우"
    assert store.get_ticker("005935").kind == InstrumentKind.PREFERRED
    assert store.get_ticker("005930").sector_id is None  # no 업종 known: unknown stays explicit


def test_one_malformed_answer_is_skipped_not_fatal(store: MarketStore) -> None:
    fake = FakeKrx()
    fake.history["000660"] = fake.history["000660"].drop(columns=["종가"])
    report = _source(fake).update(store, end="2025-06-13", start_default="2025-06-02", progress=False)
    assert report.ok and report.tickers_updated == 3
    assert _rows(store, "000660") == 0 and _rows(store, "005930") == 8
    assert any(w.startswith("000660: skipped") for w in report.warnings)


# -- failures leave the store as it was -------------------------------------------------------------
def test_network_down_changes_nothing_and_reports_age(filled: MarketStore) -> None:
    before = _fingerprint(filled)
    sleeps: list[float] = []
    down = Broken(FakeKrx(), None, requests.exceptions.ConnectionError("Max retries exceeded"))
    report = PykrxSource(down, min_interval=0.0, retries=2, backoff=1.0, sleep=sleeps.append).update(
        filled, end="2025-06-20", progress=False
    )
    assert not report.ok and report.rows_changed == 0
    assert _fingerprint(filled) == before
    assert sleeps == [1.0, 2.0] and down.count == 3  # first call retried twice, then the update gave up
    last, age = data_age(filled)
    assert (report.data_last_date, report.data_age_days) == (last, age) == ("2025-06-13", age)
    assert report.message.startswith(
        "KRX에 연결할 수 없습니다 (network unreachable); 저장된 데이터로 계속 제공합니다: 2025-06-13 기준 ("
    )
    assert f"/ {age}일 지남" in report.message
    logged = last_update(filled)
    assert (logged["source"], logged["status"], logged["rows_changed"]) == ("pykrx", "failed", 0)
    assert logged["message"] == report.message
    assert last_good_update(filled)["source"] == "pykrx"


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError("reset"), RuntimeError("naver changed")])
def test_failure_on_third_ticker_writes_nothing(store: MarketStore, error: Exception) -> None:
    fake = FakeKrx()
    flaky = Broken(fake, {"get_market_ohlcv"}, error, after=3)
    report = _source(flaky, retries=1).update(store, end="2025-06-13", start_default="2025-06-02", progress=False)
    assert not report.ok
    assert len(fake.seen("get_market_ohlcv")) == 2  # two tickers had succeeded
    assert store.conn.execute("SELECT COUNT(*) FROM prices").fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM tickers").fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM index_prices").fetchone()[0] == 0
    assert last_update(store)["status"] == "failed"
    assert report.message.endswith("; 대신 쓸 저장된 시장 데이터도 없습니다")
    assert type(error).__name__ in report.message or "network unreachable" in report.message


def test_retries_with_growing_backoff_then_success(store: MarketStore) -> None:
    sleeps: list[float] = []
    flaky = Broken(FakeKrx(), {"get_market_ticker_list"}, requests.exceptions.Timeout("slow"), times=2)
    report = PykrxSource(flaky, min_interval=0.0, retries=3, backoff=0.5, sleep=sleeps.append).update(
        store, end="2025-06-13", start_default="2025-06-12", progress=False
    )
    assert report.ok and flaky.count == 4  # two failures, then KOSPI and KOSDAQ
    assert sleeps == [0.5, 1.0]


def test_other_errors_are_not_retried() -> None:
    sleeps: list[float] = []
    caller = PoliteCaller(min_interval=0.0, retries=3, sleep=sleeps.append)
    calls = []

    def boom() -> None:
        calls.append(1)
        raise KeyError("x")

    with pytest.raises(KeyError):
        caller.call("boom", boom)
    assert calls == [1] and sleeps == []
    with pytest.raises(SourceRefused):
        caller.call("logout", lambda: requests.Response.json(logout_response()))
    down = PoliteCaller(min_interval=0.0, retries=1, sleep=sleeps.append)
    with pytest.raises(SourceUnreachable, match="timed out"):
        down.call("slow", _raise, requests.exceptions.ReadTimeout("read timed out"))


def test_calls_are_spaced_by_min_interval() -> None:
    clock = {"t": 100.0}
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock["t"] += s

    caller = PoliteCaller(min_interval=0.5, sleep=sleep, clock=lambda: clock["t"])
    caller.call("a", lambda: None)
    clock["t"] += 0.2
    caller.call("b", lambda: None)
    clock["t"] += 3.0
    caller.call("c", lambda: None)
    assert sleeps == [pytest.approx(0.3)]


# -- KRX login ---------------------------------------------------------------------------------------
def _raise(exc: Exception) -> None:
    raise exc


def test_missing_credentials_say_how_to_fix(store: MarketStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRX_ID", raising=False)
    monkeypatch.delenv("KRX_PW", raising=False)
    refused = Broken(FakeKrx(), {"get_market_ticker_list"}, catch(logout))
    report = _source(refused).update(store, end="2025-06-13", progress=False)
    assert not report.ok and "KRX_ID" in report.message and "KRX_PW" in report.message
    assert report.message.startswith("KRX 로그인이 필요합니다")
    assert last_update(store)["status"] == "failed" and _fingerprint(store)[0][0] == 0


def test_credentials_never_leak(store: MarketStore, monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("KRX_ID", raising=False)
    monkeypatch.delenv("KRX_PW", raising=False)
    seen_env = {}

    def fake_import():
        seen_env.update(KRX_ID=os.environ.get("KRX_ID"), KRX_PW=os.environ.get("KRX_PW"))
        print("KRX 로그인 시도...\n  로그인 ID: kim_trader77\nKRX 로그인 실패: 자격 증명을 확인하세요.")
        return Broken(FakeKrx(), {"get_market_ticker_list"}, catch(logout))

    monkeypatch.setattr(pykrx_source, "_import_pykrx_stock", fake_import)
    caplog.set_level(logging.DEBUG)
    report = PykrxSource.from_settings(CREDS, min_interval=0.0, sleep=lambda s: None).update(
        store, end="2025-06-13", progress=False
    )
    assert seen_env == {"KRX_ID": "kim_trader77", "KRX_PW": "Pw!s3cret-xyz"}  # set before the import
    assert not report.ok and report.message.startswith("KRX 로그인 실패") and "KRX_ID/KRX_PW" in report.message
    out = capsys.readouterr()
    for text in (report.message, caplog.text, out.out, out.err, last_update(store)["message"]):
        assert "kim_trader77" not in text and "s3cret" not in text


def test_import_does_not_load_pykrx() -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    code = "import sys, kstock.market.pykrx_source; print('pykrx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": src}, check=True)
    assert out.stdout.strip() == "False" and out.stderr == ""


# -- data age ----------------------------------------------------------------------------------------
def test_data_age_and_description(store: MarketStore) -> None:
    assert data_age(store) == (None, None)
    assert "시장 데이터가 아직 없습니다" in describe_age(store)
    days = pd.bdate_range("2025-06-10", "2025-06-16")
    prices = pd.DataFrame({"code": "005930", "date": days, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                           "volume": 1.0})
    store.ingest(MarketData([Ticker("005930", "삼성전자", "KOSPI")], prices), source="test")
    assert data_age(store, today="2025-06-21") == ("2025-06-16", 5)
    assert describe_age(store, today="2025-06-21") == "2025-06-16 기준 (4거래일 / 5일 지남)"
    assert describe_age(store, today="2025-06-16") == "2025-06-16 기준 (0거래일 / 0일 지남)"


def test_last_final_day_waits_for_the_close() -> None:
    kst = ZoneInfo("Asia/Seoul")
    assert last_final_day(dt.datetime(2025, 6, 16, 15, 0, tzinfo=kst)) == dt.date(2025, 6, 15)
    assert last_final_day(dt.datetime(2025, 6, 16, 16, 30, tzinfo=kst)) == dt.date(2025, 6, 16)
    assert last_final_day(dt.datetime(2025, 6, 16, 8, 0, tzinfo=dt.UTC)) == dt.date(2025, 6, 16)  # 17:00 KST
