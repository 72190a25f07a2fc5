"""Lookups the way people type: nicknames (삼전, 하닉), 초성 (ㅅㅅㅈㅈ), any spacing and case, English names,
and ambiguous names ordered by recent traded value (the likely intent first)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kstock.market.aliases import ALIASES, choseong, is_choseong_query
from kstock.market.types import InstrumentKind, Ticker
from kstock.market.universe import MAX_CANDIDATES, TickerIndex

KRX = Path(__file__).resolve().parents[2] / "shared" / "data" / "krx"

TICKERS = [
    Ticker("005930", "삼성전자", "KOSPI"),
    Ticker("005935", "삼성전자우", "KOSPI", InstrumentKind.PREFERRED),
    Ticker("263810", "상신전자", "KOSDAQ"),
    Ticker("207940", "삼성바이오로직스", "KOSPI"),
    Ticker("010140", "삼성중공업", "KOSPI"),
    Ticker("028260", "삼성물산", "KOSPI"),
    Ticker("000660", "SK하이닉스", "KOSPI"),
    Ticker("005380", "현대차", "KOSPI"),
    Ticker("373220", "LG에너지솔루션", "KOSPI"),
    Ticker("016360", "삼성증권", "KOSPI"),
    Ticker("032830", "삼성생명", "KOSPI"),
    Ticker("006400", "삼성SDI", "KOSPI"),
    Ticker("009150", "삼성전기", "KOSPI"),
    Ticker("018260", "삼성에스디에스", "KOSPI"),
    Ticker("000810", "삼성화재", "KOSPI"),
    Ticker("029780", "삼성카드", "KOSPI"),
]
#: 20-day traded value (원): the big names trade far more than the small ones.
TRADED = {"005930": 1.2e12, "263810": 1.0e9, "207940": 1.5e11, "010140": 2.0e11, "028260": 9.0e10,
          "016360": 3.0e10, "032830": 4.0e10, "006400": 1.8e11, "009150": 1.1e11, "018260": 2.0e10,
          "000810": 5.0e10, "029780": 5.0e9}


@pytest.fixture(scope="module")
def index() -> TickerIndex:
    return TickerIndex(TICKERS)


@pytest.mark.parametrize(("query", "code"), [
    ("삼전", "005930"), ("하닉", "000660"), ("하이닉스", "000660"), ("현차", "005380"), ("엘지엔솔", "373220"),
    ("엔솔", "373220"), ("삼바", "207940"), ("삼 전", "005930"), ("  하 닉 ", "000660"),
])
def test_curated_nicknames(index: TickerIndex, query: str, code: str) -> None:
    assert index.resolve(query).match.code == code


@pytest.mark.parametrize(("query", "code"), [
    ("Samsung Electronics", "005930"), ("samsung electronics", "005930"), ("SAMSUNGELECTRONICS", "005930"),
    ("sk hynix", "000660"), ("SK하이닉스", "000660"), ("sk 하이닉스", "000660"), ("LG Energy Solution", "373220"),
])
def test_english_names_spacing_and_case(index: TickerIndex, query: str, code: str) -> None:
    assert index.resolve(query).match.code == code


def test_choseong() -> None:
    assert choseong("삼성전자") == "ㅅㅅㅈㅈ"
    assert choseong("SK 하이닉스") == "skㅎㅇㄴㅅ"
    assert is_choseong_query("ㅅㅅㅈㅈ") and is_choseong_query("ㅅㅅ ㅈㅈ") and is_choseong_query("skㅎㅇㄴㅅ")
    assert not is_choseong_query("삼성") and not is_choseong_query("samsung") and not is_choseong_query("ㅅ성")


def test_choseong_search_takes_the_dominant_name(index: TickerIndex) -> None:
    # 삼성전자 and 상신전자 are both ㅅㅅㅈㅈ: the one traded a thousand times more is what people mean
    assert index.resolve("ㅅㅅㅈㅈ", TRADED).match.code == "005930"
    assert index.resolve("ㅅㅅ ㅈㅈ", TRADED).match.code == "005930"
    # without trading data the two are offered
    both = index.resolve("ㅅㅅㅈㅈ")
    assert {t.code for t in both.candidates} == {"005930", "263810"}
    assert index.resolve("skㅎㅇㄴㅅ").match.code == "000660"
    assert index.resolve("ㅎㄷㅊ").match.code == "005380"


def test_choseong_prefix_lists_candidates(index: TickerIndex) -> None:
    result = index.resolve("ㅅㅅㅈ", TRADED)  # 삼성전자, 삼성중공업, 삼성전기, 상신전자 …
    assert result.ambiguous and result.candidates[0].code == "005930"


def test_ambiguous_names_are_ordered_by_traded_value_with_a_total(index: TickerIndex) -> None:
    result = index.resolve("삼성", TRADED)
    codes = [t.code for t in result.candidates]
    assert codes[:4] == ["005930", "010140", "006400", "207940"]  # by traded value, not by code
    assert len(codes) == MAX_CANDIDATES and result.total > MAX_CANDIDATES
    assert "005935" not in codes[:-1] or codes.index("005935") > codes.index("029780")  # commons first


def test_an_alias_of_an_unlisted_code_does_nothing() -> None:
    index = TickerIndex([Ticker("000001", "다른회사", "KOSPI")])
    assert index.resolve("삼전").match is None


@pytest.mark.realdata
@pytest.mark.skipif(not (KRX / "tickers.csv").exists(), reason="needs ../shared/data/krx")
def test_every_alias_names_a_listed_common_stock() -> None:
    with open(KRX / "tickers.csv", encoding="utf-8-sig") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    for code in ALIASES:
        assert code in rows, code
        assert not rows[code]["delisting_date"], code
    tickers = [Ticker(r["code"], r["name"], r["market"]) for r in rows.values() if not r["delisting_date"]]
    index = TickerIndex(tickers)
    for code, names in ALIASES.items():  # no alias is taken by another listed name
        for name in names:
            assert index.resolve(name).match.code == code, (name, code)
    assert index.resolve("삼전").match.code == "005930"
    assert index.resolve("ㅅㅅㅈㅈ", {"005930": 1e12, "263810": 1e9}).match.code == "005930"


def test_recent_traded_value_from_the_store(tmp_path: Path) -> None:
    from kstock.market.store import MarketStore
    from kstock.market.universe import recent_traded_value
    from support.stores import price_frame

    with MarketStore(tmp_path / "s.db") as store:
        store.upsert_tickers([TICKERS[0], TICKERS[2]])
        big, small = price_frame("005930", "2025-01-02", 30), price_frame("263810", "2025-01-02", 30)
        big["volume"] *= 1000
        store.upsert_prices(big)
        store.upsert_prices(small)
        value = recent_traded_value(store)
        expected = (big["close"] * big["volume"]).iloc[-20:].mean()
        assert value["005930"] == pytest.approx(expected) and value["005930"] > 100 * value["263810"]
        index = TickerIndex(store.tickers())
        assert index.resolve("ㅅㅅㅈㅈ", value).match.code == "005930"  # 상신전자 trades far less
        assert index.resolve("ㅅㅅㅈㅈ").ambiguous  # without trading data both are offered
