"""Sector assignment: fixed ids, both markets' KRX 업종, KSIC/WICS fallbacks, and a balanced real universe."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from kstock.market.sectors import (
    N_SECTORS,
    SECTOR_NAMES,
    assign_sector,
    load_sector_file,
    sector_from_krx_industry,
    sector_from_ksic,
    sector_from_wics,
    sector_name,
)
from kstock.market.types import InstrumentKind
from kstock.market.universe import classify_rows

# DESIGN §2: the reference stocks and the sector each must land in.
REFERENCE = {
    "005930": 0,  # 삼성전자
    "000660": 0,  # SK하이닉스
    "035420": 2,  # NAVER
    "035720": 2,  # 카카오
    "030200": 12,  # KT
    "017670": 12,  # SK텔레콤
    "055550": 1,  # 신한지주
    "105560": 1,  # KB금융
    "068270": 3,  # 셀트리온
}


def _read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_sector_ids_are_fixed_for_checkpoint_compatibility():
    assert N_SECTORS == 13
    assert SECTOR_NAMES[0] == "전기전자"
    assert SECTOR_NAMES[1] == "금융업"
    assert SECTOR_NAMES[3] == "의약품"
    assert SECTOR_NAMES[10] == "운수"
    assert SECTOR_NAMES[11] == "제조업"
    assert SECTOR_NAMES[12] == "기타"
    assert sorted(SECTOR_NAMES) == list(range(13))


def test_unknown_is_explicit_not_a_default_bucket():
    assert assign_sector() is None
    assert assign_sector(krx_industry="없는업종", ksic="", wics_large=None) is None
    assert sector_from_krx_industry(None) is None
    assert sector_from_ksic(float("nan")) is None  # an empty pandas cell
    assert sector_name(None) == "미분류"
    assert sector_name(0) == "전기전자"


@pytest.mark.parametrize(
    ("industry", "sector"),
    [
        ("전기전자", 0), ("반도체", 0), ("IT부품", 0), ("통신장비", 0), ("일반전기전자", 0), ("정보기기", 0),
        ("기타금융", 1), ("금융", 1), ("증권", 1), ("보험", 1), ("은행", 1),
        ("서비스업", 2), ("소프트웨어", 2), ("인터넷", 2), ("디지털컨텐츠", 2), ("오락·문화", 2),
        ("제약", 3), ("의약품", 3), ("의료·정밀기기", 3),
        ("유통", 4), ("금속", 5), ("기계·장비", 6), ("화학", 7), ("건설", 8), ("음식료·담배", 9),
        ("운송장비·부품", 10), ("운수창고업", 10), ("기타제조", 11), ("기타제조업", 11),
        ("통신업", 12), ("통신서비스", 12), ("전기가스업", 12), ("섬유·의류", 12), ("농업, 임업 및 어업", 12),
    ],
)
def test_krx_industries_of_both_markets_map_to_real_sectors(industry, sector):
    assert sector_from_krx_industry(industry) == sector


def test_krx_industry_spellings_are_folded():
    """KRX writes the same 업종 with different dots and spacing across files and years."""
    assert sector_from_krx_industry(" 반도체 ") == 0
    assert sector_from_krx_industry("의료ㆍ정밀기기") == 3  # U+318D instead of U+00B7
    assert sector_from_krx_industry("전기·전자") == 0  # post-2024 KOSPI spelling
    assert sector_from_krx_industry("IT 서비스") == 2


@pytest.mark.parametrize(
    ("ksic", "sector"),
    [
        ("의약품 제조업", 3),
        ("기초 의약물질 제조업", 3),
        ("반도체 제조업", 0),
        ("전자부품 제조업", 0),
        ("소프트웨어 개발 및 공급업", 2),
        ("기계장비 및 관련 물품 도매업", 4),  # a wholesaler of machines is distribution, not machinery
        ("전기 및 통신 공사업", 8),  # an electrical contractor is construction, not telecom
        ("전기 통신업", 12),
        ("자동차 신품 부품 제조업", 10),
        ("화학섬유 제조업", 7),
        ("봉제의복 제조업", 12),
        ("1차 철강 제조업", 5),
        ("특수 목적용 기계 제조업", 6),
        ("금융 지원 서비스업", 1),
        ("기타 식품 제조업", 9),
        ("가구 제조업", 11),
    ],
)
def test_ksic_keyword_rules(ksic, sector):
    assert sector_from_ksic(ksic) == sector


def test_research_firms_defer_to_wics():
    """KRX files young biotechs under 기타서비스 via KSIC R&D; WICS knows they are pharma."""
    assert sector_from_ksic("자연과학 및 공학 연구개발업") is None
    assert assign_sector(ksic="자연과학 및 공학 연구개발업", wics_large="건강관리", wics_medium="제약과생물공학") == 3


def test_wics_uses_the_most_specific_level():
    assert sector_from_wics("건강관리", "제약과생물공학", "생물공학") == 3
    assert sector_from_wics("IT", "전자와 전기제품", "전기제품") == 0  # WICS spells it with and without a space
    assert sector_from_wics("IT", "소프트웨어와서비스", "IT서비스") == 2
    assert sector_from_wics("금융", "부동산", "부동산") == 2  # small level overrides large 금융
    assert sector_from_wics("금융", "증권", "증권") == 1
    assert sector_from_wics("경기관련소비재", "내구소비재와의류", "화장품") == 7
    assert sector_from_wics("없는분류", None, None) is None


def test_assign_sector_prefers_krx_then_ksic_then_wics():
    assert assign_sector("반도체", ksic="의약품 제조업", wics_large="건강관리") == 0
    assert assign_sector(None, ksic="의약품 제조업", wics_large="IT") == 3
    assert assign_sector(None, ksic=None, wics_large="IT", wics_medium="반도체와반도체장비") == 0


def test_load_sector_file_pads_codes_and_tolerates_bom(tmp_path):
    path = tmp_path / "industry.csv"
    path.write_text(
        '\ufeff"","종목코드","종목명","시장구분","업종명"\n'
        '"1","5930","삼성전자","KOSPI","전기전자"\n'
        '"2","035420","NAVER","KOSPI","서비스업"\n'
        '"3","","빈코드","KOSPI","화학"\n',
        encoding="utf-8",
    )
    assert load_sector_file(path) == {"005930": "전기전자", "035420": "서비스업"}


def test_load_sector_file_rejects_other_files(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("날짜,시가,고가,저가,종가\n2024-01-02,1,1,1,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="업종"):
        load_sector_file(path)


# --- real data ---------------------------------------------------------------------------------------


def test_reference_stocks_land_in_their_sectors(krx_dir):
    industries = load_sector_file(krx_dir / "krx_industry_2021-12.csv")
    got = {code: assign_sector(industries.get(code)) for code in REFERENCE}
    assert got == REFERENCE


def test_every_krx_industry_in_the_snapshot_is_mapped(krx_dir):
    rows = _read_rows(krx_dir / "krx_industry_2021-12.csv")
    unmapped = {r["업종명"] for r in rows if sector_from_krx_industry(r["업종명"]) is None}
    assert unmapped == set()


def test_kosdaq_is_not_lumped_into_one_bucket(krx_dir):
    rows = _read_rows(krx_dir / "krx_industry_2021-12.csv")
    kosdaq = Counter(sector_from_krx_industry(r["업종명"]) for r in rows if r["시장구분"] == "KOSDAQ")
    total = sum(kosdaq.values())
    assert len(kosdaq) >= 12
    assert max(kosdaq.values()) / total < 0.25


def test_ksic_rules_agree_with_krx_where_both_exist(krx_dir):
    """The fallback should place a stock where KRX itself would: measured on stocks that have both."""
    industries = load_sector_file(krx_dir / "krx_industry_2021-12.csv")
    pairs = []
    for r in _read_rows(krx_dir / "tickers.csv"):
        krx, ksic = sector_from_krx_industry(industries.get(r["code"])), sector_from_ksic(r["ksic_industry"])
        if krx is not None and ksic is not None:
            pairs.append(krx == ksic)
    assert len(pairs) > 1500
    assert sum(pairs) / len(pairs) > 0.85


def test_market_universe_sector_distribution_is_balanced(krx_dir):
    """Over the common stocks of market_2023_2025 no sector dominates, none is empty, few are unknown."""
    industries = load_sector_file(krx_dir / "krx_industry_2021-12.csv")
    rows = {r["code"]: r for r in _read_rows(krx_dir / "tickers.csv")}
    kinds = classify_rows(rows.values())
    codes = [p.stem for p in (krx_dir / "market_2023_2025").glob("*.csv")]
    common = [rows[c] for c in codes if kinds[c] == InstrumentKind.COMMON]
    counts = Counter(
        assign_sector(industries.get(r["code"]), r["ksic_industry"], r["wics_large"], r["wics_medium"], r["wics_small"])
        for r in common
    )
    total = len(common)
    print(f"\n{total} common stocks")
    for sector in [*range(N_SECTORS), None]:
        print(f"{sector!s:>4} {sector_name(sector):6} {counts[sector]:5d} {100 * counts[sector] / total:5.1f}%")
    assert total > 2400
    assert all(counts[s] > 0 for s in range(N_SECTORS))
    assert max(counts[s] for s in range(N_SECTORS)) / total <= 0.25
    assert counts[None] / total < 0.01
