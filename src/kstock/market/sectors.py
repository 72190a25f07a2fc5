"""The 13 sectors of the sector model and how a listed stock is put into one (DESIGN §2, "Sectors").

Sector ids are fixed because trained sector heads are stored by id: changing an id would silently route
stocks to the wrong head of an old checkpoint. Unknown is ``None`` and stays ``None`` — an earlier
design sent every unmapped stock to a default id and lumped all KOSDAQ manufacturers into one bucket
(47% of samples), which starved the other heads.

A stock is placed from the best source available, in this order:

1. its KRX 업종명 (the exchange's own classification; KOSPI and KOSDAQ use different vocabularies and
   both are mapped here to their real sectors);
2. its KSIC industry (통계청 표준산업분류), for stocks listed after the 업종 snapshot;
3. its WICS classification, for the rest.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

SECTOR_NAMES: dict[int, str] = {
    0: "전기전자",
    1: "금융업",
    2: "서비스업",
    3: "의약품",
    4: "유통업",
    5: "철강금속",
    6: "기계",
    7: "화학",
    8: "건설업",
    9: "음식료품",
    10: "운수",
    11: "제조업",
    12: "기타",
}
N_SECTORS = len(SECTOR_NAMES)
UNKNOWN_SECTOR_NAME = "미분류"

ELECTRONICS, FINANCE, SERVICES, PHARMA, DISTRIBUTION, METALS = 0, 1, 2, 3, 4, 5
MACHINERY, CHEMICALS, CONSTRUCTION, FOOD, TRANSPORT, MANUFACTURING, OTHER = 6, 7, 8, 9, 10, 11, 12

# KRX 업종명 → sector. Both markets' vocabularies (2021 snapshot), plus the names KRX uses since its
# 2024/25 industry revision (전기·전자, IT 서비스, 일반서비스, 운송·창고, 통신, 부동산…), so a fresh
# download maps too. Keys are compared after `_norm_industry` (no spaces, dots or commas).
_KRX_INDUSTRY: dict[int, tuple[str, ...]] = {
    ELECTRONICS: ("전기전자", "반도체", "IT부품", "통신장비", "일반전기전자", "정보기기", "전기·전자"),
    FINANCE: ("금융업", "기타금융", "금융", "증권", "보험", "은행"),
    SERVICES: (
        "서비스업", "기타서비스", "일반서비스", "소프트웨어", "인터넷", "디지털컨텐츠", "컴퓨터서비스",
        "IT서비스", "오락·문화", "방송서비스", "출판·매체복제", "숙박·음식", "부동산",
    ),
    PHARMA: ("의약품", "제약", "의료정밀", "의료·정밀기기", "의료·정밀"),
    DISTRIBUTION: ("유통업", "유통"),
    METALS: ("철강금속", "금속", "철강"),
    MACHINERY: ("기계", "기계·장비"),
    CHEMICALS: ("화학",),
    CONSTRUCTION: ("건설업", "건설"),
    FOOD: ("음식료품", "음식료·담배"),
    TRANSPORT: ("운수장비", "운수창고업", "운송장비·부품", "운송", "운송·창고"),
    MANUFACTURING: ("기타제조업", "기타제조"),
    OTHER: (
        "통신업", "통신서비스", "통신", "전기가스업", "전기·가스·수도", "전기·가스", "섬유의복", "섬유·의류",
        "종이목재", "종이·목재", "비금속광물", "비금속", "광업", "농업, 임업 및 어업",
    ),
}

# KSIC industry → sector, first matching keyword wins, so the specific rules come before the general
# ones (도매업 before 식품, 공사업 before 전기 …). Choices follow what KRX itself did with each KSIC
# industry in the 2021 snapshot. 자연과학 및 공학 연구개발업 is left out on purpose: KRX files these
# (mostly young biotechs) under 기타서비스, which hides what they do — WICS places them better.
_KSIC_RULES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (FINANCE, ("금융", "보험", "은행", "신탁업", "집합투자")),
    (PHARMA, ("의약", "의료", "정밀기기", "광학기기")),
    (DISTRIBUTION, ("도매업", "소매업", "상품 중개업", "판매업")),
    (CONSTRUCTION, ("건설업", "공사업", "시설물 축조")),
    (ELECTRONICS, (
        "반도체", "전자부품", "컴퓨터 및 주변장치", "통신 및 방송 장비", "영상 및 음향기기", "전동기, 발전기",
        "전기장비", "전지", "절연선 및 케이블", "전구 및 조명", "매체 제조업", "가정용 기기",
    )),
    (SERVICES, (
        "소프트웨어", "컴퓨터 프로그래밍", "정보 서비스업", "인터넷", "방송", "영화", "오디오물", "출판업",
        "인쇄", "기록매체", "광고업", "창작 및 예술", "오락", "스포츠", "여행", "교육", "학원", "숙박",
        "음식점", "사업지원", "경비", "디자인", "엔지니어링", "과학기술 서비스업", "기술 서비스업",
        "전문 서비스업", "시장조사", "유지·관리", "수리업", "개인 서비스업", "임대업", "부동산",
        "폐기물", "원료 재생", "회사 본부",
    )),
    (METALS, ("철강", "비철금속", "금속 주조", "금속 가공제품", "구조용 금속제품")),
    (MACHINERY, ("기계 제조업", "무기 및 총포탄")),
    (CHEMICALS, ("화학", "석유 정제품", "고무", "플라스틱", "비료, 농약")),
    (FOOD, (
        "식품", "음료", "담배", "곡물", "도축", "육류", "낙농", "사료", "떡, 빵", "과실, 채소", "수산물",
    )),
    (TRANSPORT, ("자동차", "운송장비", "선박", "항공기", "철도장비", "운송업", "운송관련")),
    (MANUFACTURING, ("가구 제조업", "기타 제품 제조업", "귀금속", "악기", "운동 및 경기용구")),
    (OTHER, (
        "통신업", "전기업", "가스", "증기", "섬유", "의복", "가죽", "신발", "방적", "직물", "편조", "봉제",
        "종이", "펄프", "판지", "나무제품", "목재", "시멘트", "유리", "요업", "비금속 광물", "광업", "어업",
        "재배업",
    )),
)

# WICS, looked up at the most specific level first (small, then medium, then large).
_WICS_SMALL: dict[str, int] = {
    "가정용기기와용품": ELECTRONICS,
    "레저용장비와제품": MANUFACTURING,
    "문구류": MANUFACTURING,
    "섬유,의류,신발,호화품": OTHER,
    "화장품": CHEMICALS,
    "부동산": SERVICES,
    "가구": MANUFACTURING,
    "건설": CONSTRUCTION,
    "건축자재": OTHER,
    "건축제품": MANUFACTURING,
    "기계": MACHINERY,
    "무역회사와판매업체": DISTRIBUTION,
    "복합기업": FINANCE,  # 지주회사: KRX files them under 기타금융
    "우주항공과국방": TRANSPORT,
    "전기장비": ELECTRONICS,
    "조선": TRANSPORT,
    "비철금속": METALS,
    "철강": METALS,
    "종이와목재": OTHER,
    "포장재": OTHER,
    "화학": CHEMICALS,
    "석유와가스": CHEMICALS,  # KRX: 정유사는 화학
    "에너지장비및서비스": MACHINERY,
}
_WICS_MEDIUM: dict[str, int] = {
    "반도체와반도체장비": ELECTRONICS,
    "기술하드웨어와장비": ELECTRONICS,
    "디스플레이": ELECTRONICS,
    "전자와전기제품": ELECTRONICS,
    "소프트웨어와서비스": SERVICES,
    "교육서비스": SERVICES,
    "호텔,레스토랑,레저등": SERVICES,
    "소매(유통)": DISTRIBUTION,
    "자동차와부품": TRANSPORT,
    "상업서비스와공급품": SERVICES,
    "운송": TRANSPORT,
    "미디어와엔터테인먼트": SERVICES,
    "전기통신서비스": OTHER,
    "식품,음료,담배": FOOD,
    "가정용품과개인용품": CHEMICALS,
    "식품과기본식료품소매": DISTRIBUTION,
}
_WICS_LARGE: dict[str, int] = {
    "건강관리": PHARMA,
    "금융": FINANCE,
    "유틸리티": OTHER,
    "에너지": CHEMICALS,
    "IT": ELECTRONICS,
}

_NORM_RE = re.compile(r"[\s·ㆍ・,]+")


def _norm_industry(name: str) -> str:
    """Fold the spellings KRX files use for one name (전기·전자 / 전기전자, 농업, 임업 … with spaces)."""
    return _NORM_RE.sub("", name).upper()


_KRX_LOOKUP: dict[str, int] = {
    _norm_industry(name): sector for sector, names in _KRX_INDUSTRY.items() for name in names
}


def _clean(value: object) -> str | None:
    """Empty cells arrive as None, '' or NaN depending on the reader: all mean 'not known'."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def sector_from_krx_industry(name: str | None) -> int | None:
    """Sector of a KRX 업종명 of either market; None when the name is missing or not a known 업종."""
    text = _clean(name)
    return None if text is None else _KRX_LOOKUP.get(_norm_industry(text))


def sector_from_ksic(ksic: str | None) -> int | None:
    """Sector of a KSIC industry name by the keyword rules above; None when no rule applies."""
    text = _clean(ksic)
    if text is None:
        return None
    for sector, keywords in _KSIC_RULES:
        if any(keyword in text for keyword in keywords):
            return sector
    return None


def sector_from_wics(large: str | None, medium: str | None = None, small: str | None = None) -> int | None:
    """Sector from WICS, trusting the most specific level that is mapped."""
    for level, table in ((small, _WICS_SMALL), (medium, _WICS_MEDIUM), (large, _WICS_LARGE)):
        text = _clean(level)
        if text is not None:
            sector = table.get(text.replace(" ", ""), table.get(text))
            if sector is not None:
                return sector
    return None


def assign_sector(
    krx_industry: str | None = None,
    ksic: str | None = None,
    wics_large: str | None = None,
    wics_medium: str | None = None,
    wics_small: str | None = None,
) -> int | None:
    """Best sector from the sources a stock has: KRX 업종, then KSIC, then WICS; None if none says."""
    for sector in (
        sector_from_krx_industry(krx_industry),
        sector_from_ksic(ksic),
        sector_from_wics(wics_large, wics_medium, wics_small),
    ):
        if sector is not None:
            return sector
    return None


def sector_name(sector_id: int | None) -> str:
    """Korean display name of a sector id; '미분류' for unknown so replies never show a bare None."""
    if sector_id is None:
        return UNKNOWN_SECTOR_NAME
    return SECTOR_NAMES[sector_id]


def load_sector_file(path: str | Path) -> dict[str, str]:
    """Read a KRX 업종분류 download (종목코드, 업종명 columns) into code → 업종명.

    KRX files sometimes start with a BOM and spreadsheet round-trips drop leading zeros (005930 → 5930),
    so the header is read BOM-tolerantly and codes are zero-padded back to six characters.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {(f or "").strip(): f for f in reader.fieldnames or ()}
        if "종목코드" not in fields or "업종명" not in fields:
            raise ValueError(f"{path}: KRX 업종 파일이 아닙니다 (종목코드와 업종명 열이 있어야 합니다)")
        code_col, industry_col = fields["종목코드"], fields["업종명"]
        out: dict[str, str] = {}
        for row in reader:
            code = (row.get(code_col) or "").strip()
            industry = (row.get(industry_col) or "").strip()
            if code and industry:
                out[code.zfill(6)] = industry
        return out
