"""Universe: what each code is, which are scored, and how /analyze queries resolve to tickers."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from kstock.market.types import InstrumentKind, Ticker
from kstock.market.universe import (
    MAX_QUERY_LEN,
    TickerIndex,
    classify_instrument,
    classify_rows,
    is_scorable,
)

K = InstrumentKind

TICKERS = [
    Ticker("005930", "삼성전자", "KOSPI", K.COMMON, 0, name_en="Samsung Electronics"),
    Ticker("005935", "삼성전자우", "KOSPI", K.PREFERRED, 0, name_en="Samsung Electronics Pref"),
    Ticker("006400", "삼성SDI", "KOSPI", K.COMMON, 0, name_en="Samsung SDI"),
    Ticker("009150", "삼성전기", "KOSPI", K.COMMON, 0),
    Ticker("028260", "삼성물산", "KOSPI", K.COMMON, 12),
    Ticker("448740", "삼성스팩8호", "KOSDAQ", K.SPAC, None),
    Ticker("448730", "삼성FN리츠", "KOSPI", K.REIT, None),
    Ticker("000660", "SK하이닉스", "KOSPI", K.COMMON, 0, name_en="SK hynix"),
    Ticker("035420", "NAVER", "KOSPI", K.COMMON, 2),
    Ticker("035720", "카카오", "KOSPI", K.COMMON, 2, name_en="Kakao"),
    Ticker("069500", "KODEX 200", "ETF", K.ETF, None),
    Ticker("060410", "베스트플로우", "KOSDAQ", K.COMMON, None, delisting_date="2010-05-04"),
]


def _read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# --- classify_instrument ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "market", "kind"),
    [
        ("069500", "KODEX 200", "ETF", K.ETF),
        ("102110", "TIGER 200", "KOSPI", K.ETF),  # brand alone is enough when the market column is wrong
        ("449170", "SOL 미국배당다우존스", None, K.ETF),
        ("580011", "신한 레버리지 WTI원유 선물 ETN", None, K.ETN),
        ("448740", "삼성스팩8호", "KOSDAQ", K.SPAC),
        ("330590", "롯데리츠", "KOSPI", K.REIT),
        ("088260", "이리츠코크렙", "KOSPI", K.REIT),
        ("005935", "삼성전자우", "KOSPI", K.PREFERRED),
        ("005387", "현대차2우B", "KOSPI", K.PREFERRED),
        ("00279K", "아모레퍼시픽홀딩스3우C", "KOSPI", K.PREFERRED),
        ("00104K", "CJ4우(전환)", "KOSPI", K.PREFERRED),
        ("097955", "CJ제일제당 우", "KOSPI", K.PREFERRED),
        ("016835", "한미은행(1우B)", "KOSPI", K.PREFERRED),
        ("031955", "서울시스템우선", "KOSDAQ", K.PREFERRED),
        ("005930", "삼성전자", "KOSPI", K.COMMON),
    ],
)
def test_classify_by_what_the_instrument_is(code, name, market, kind):
    assert classify_instrument(code, name, market) == kind


@pytest.mark.parametrize(
    "name",
    [
        "대우", "미래에셋대우", "대우건설", "성우", "연우", "미우", "이오플로우", "에코글로우", "우리금융지주",
        "한국우주항공", "메리츠화재", "메리츠금융지주", "블리츠웨이엔터테인먼트", "HK이노엔", "파워넷",
        "BNK금융지주", "YG PLUS",
    ],
)
def test_common_names_that_look_like_other_kinds_stay_common(name):
    assert classify_instrument("000000", name, "KOSPI") == K.COMMON


def test_spac_recognised_from_the_kosdaq_department_alone():
    assert classify_instrument("999990", "케이비제99호", "KOSDAQ", {"kosdaq_dept": "SPAC(소속부없음)"}) == K.SPAC


def test_reit_recognised_from_the_security_group_alone():
    assert classify_instrument("088261", "코크렙15호", "KOSPI", {"secu_group": "부동산투자회사"}) == K.REIT


def test_listed_names_make_preferred_detection_exact():
    """With the listing known, a 우-ending name is preferred only if its common share is listed."""
    listed = {"코리아써키트", "남선알미늄", "삼성전자", "다우기술"}
    hints = {"listed_names": listed}
    assert classify_instrument("007815", "코리아써우", "KOSPI", hints) == K.PREFERRED  # KRX truncated the name
    assert classify_instrument("008355", "남선알미우", "KOSPI", hints) == K.PREFERRED
    assert classify_instrument("005935", "삼성전자우", "KOSPI", hints) == K.PREFERRED
    # an unseen common word ending in 우: the suffix rule alone would call it preferred
    assert classify_instrument("999990", "다우", "KOSDAQ") == K.PREFERRED
    assert classify_instrument("999990", "다우", "KOSDAQ", hints) == K.COMMON


# --- is_scorable --------------------------------------------------------------------------------------


def test_only_listed_common_stocks_are_scorable():
    by_code = {t.code: t for t in TICKERS}
    assert is_scorable(by_code["005930"])
    for code in ("069500", "005935", "448740", "448730"):
        assert not is_scorable(by_code[code]), code
    delisted = by_code["060410"]
    assert not is_scorable(delisted)
    assert is_scorable(delisted, as_of="2009-12-30")  # it was scorable before it left the market
    assert not is_scorable(delisted, as_of="2010-05-04")


# --- TickerIndex --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> TickerIndex:
    return TickerIndex(TICKERS)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("삼성전자", "005930"),
        ("삼성전자우", "005935"),
        ("005930", "005930"),
        ("5930", "005930"),  # leading zeros lost in a spreadsheet
        ("660", "000660"),
        ("  삼성 전자 ", "005930"),
        ("naver", "035420"),
        ("samsung electronics", "005930"),
        ("SK HYNIX", "000660"),
        ("하이닉스", "000660"),  # one partial match is a match
    ],
)
def test_resolve_finds_the_ticker(index, query, code):
    result = index.resolve(query)
    assert result.error is None
    assert result.match is not None and result.match.code == code


def test_partial_name_lists_candidates_commons_first(index):
    result = index.resolve("삼성")
    assert result.match is None and result.ambiguous and result.error is None
    codes = [t.code for t in result.candidates]
    assert {"005930", "005935", "006400", "009150", "028260", "448740", "448730"} <= set(codes)
    first_non_common = min(i for i, t in enumerate(result.candidates) if t.kind != K.COMMON)
    assert all(t.kind == K.COMMON for t in result.candidates[:first_non_common])
    assert first_non_common == 4


def test_typo_gets_suggestions(index):
    result = index.resolve("삼송전자")
    assert result.match is None
    assert result.suggestions[0].code == "005930"
    assert "삼송전자" in result.error and "삼성전자" in result.error


def test_unknown_code_is_reported_with_its_neighbours(index):
    result = index.resolve("005931")
    assert result.match is None
    assert result.error.startswith("005931: 등록되지 않은 종목코드입니다")
    assert [t.code for t in result.suggestions] == ["005930", "005935"]


@pytest.mark.parametrize("query", ["", "   ", "x" * 1000, "가" * (MAX_QUERY_LEN + 1)])
def test_bad_queries_get_one_line_errors(index, query):
    result = index.resolve(query)
    assert result.match is None and not result.candidates
    assert result.error and "\n" not in result.error and "입력" in result.error  # Korean only


def test_nothing_similar_is_a_plain_no_match(index):
    result = index.resolve("존재하지않는회사이름")
    assert result.match is None and not result.suggestions
    assert "일치하는 종목이 없습니다" in result.error


def test_listed_ticker_wins_over_delisted_namesake():
    old = Ticker("003810", "대우", "KOSPI", K.COMMON, delisting_date="2000-01-01")
    new = Ticker("999810", "대우", "KOSPI", K.COMMON)
    assert TickerIndex([old, new]).resolve("대우").match == new


# --- real data ----------------------------------------------------------------------------------------


def test_real_listing_kinds(krx_dir):
    rows = _read_rows(krx_dir / "tickers.csv")
    kinds = classify_rows(rows)
    counts = Counter(kinds.values())
    print("\n", dict(counts))
    assert kinds["069500"] == K.ETF
    assert kinds["005935"] == K.PREFERRED
    assert kinds["005930"] == K.COMMON
    assert kinds["448740"] == K.SPAC  # 삼성스팩8호
    assert kinds["330590"] == K.REIT  # 롯데리츠
    assert kinds["458650"] == K.COMMON  # 성우
    assert counts[K.ETF] == 9 and counts[K.REIT] == 25 and counts[K.SPAC] == 82
    assert 100 <= counts[K.PREFERRED] <= 130
    # every SPAC the exchange marks as such is caught
    assert all(kinds[r["code"]] == K.SPAC for r in rows if r["kosdaq_dept"].startswith("SPAC"))


def test_real_funds_are_funds_and_operating_firms_under_the_same_ksic_are_not(krx_dir):
    """Infrastructure, property and oil funds are excluded like ETFs; trust firms and VCs stay common."""
    kinds = classify_rows(_read_rows(krx_dir / "tickers.csv"))
    for code in ("088980", "415640", "094800", "152550"):  # 맥쿼리인프라, KB발해인프라, 맵스리얼티, 한국ANKOR유전
        assert kinds[code] == K.FUND, code
    for code in ("034830", "123890", "019550", "026890", "063570", "199730"):
        # 한국토지신탁, 한국자산신탁, SBI인베스트먼트, 스틱인베스트먼트, NICE인프라, 바이오인프라
        assert kinds[code] == K.COMMON, code
    assert kinds["0030R0"] == K.REIT  # 대신밸류리츠 (KSIC 집합투자업 too): a REIT first


@pytest.mark.parametrize("name", ["맥쿼리인프라", "KB발해인프라", "바다로19호", "하이골드12호", "한국ANKOR유전",
                                  "맵스리얼티1", "동북아13호선박투자회사"])
def test_fund_names_alone_are_funds(name):
    assert classify_instrument("000000", name, "KOSPI") == K.FUND


def test_name_rule_alone_agrees_with_the_listing_rule(krx_dir):
    """Without the listed-name evidence the exceptions list must still classify today's listing right."""
    rows = _read_rows(krx_dir / "tickers.csv")
    with_list = classify_rows(rows)
    alone = {r["code"]: classify_instrument(r["code"], r["name"], r["market"], r) for r in rows}
    assert alone == with_list


def test_preferred_rule_matches_krx_share_kinds_in_delisting_history(krx_dir):
    """KRX's delisting list says which shares were 보통주 and which 우선주: names must agree."""
    rows = _read_rows(krx_dir / "delisted_2026-03.csv")
    checked = 0
    for r in rows:
        if r["SecuGroup"] != "주권" or r["Kind"] not in ("보통주", "구형우선주", "신형우선주"):
            continue
        kind = classify_instrument(r["Symbol"], r["Name"], r["Market"])
        if r["Kind"] == "보통주":
            assert kind in (K.COMMON, K.SPAC), (r["Symbol"], r["Name"])
        else:
            assert kind == K.PREFERRED, (r["Symbol"], r["Name"])
        checked += 1
    assert checked > 1800


def test_real_listing_resolves_names_and_typos(krx_dir):
    rows = _read_rows(krx_dir / "tickers.csv")
    kinds = classify_rows(rows)
    index = TickerIndex([Ticker(r["code"], r["name"], r["market"], kinds[r["code"]]) for r in rows])
    assert index.resolve("삼성전자").match.code == "005930"
    assert index.resolve("삼성전자우").match.kind == K.PREFERRED
    assert index.resolve("KODEX 200").match.code == "069500"
    assert "005930" in [t.code for t in index.resolve("삼송전자").suggestions]
    many = index.resolve("삼성")
    assert many.ambiguous and many.candidates[0].kind == K.COMMON
