"""What people type instead of the listed name: nicknames, English names and 초성 (initial consonants).

Korean investors call 삼성전자 "삼전", SK하이닉스 "하닉" and LG에너지솔루션 "엘지엔솔"; none of the data
sources knows these, and no real source in ``../shared/data/krx`` carries English names (tickers.csv,
the KRX industry and WICS files and the delisting list are Korean only). So a small curated table
lives here: code → nicknames and the English name the company itself uses. An alias only takes
effect when its code is listed in the store, so the table can never invent a stock, and a listed name
always wins over an alias (모비스 is the KOSDAQ company 250060, not 현대모비스).

초성 search: typing only the initial consonants of each syllable (ㅅㅅㅈㅈ for 삼성전자) is a common habit
on a phone keyboard; :func:`choseong` turns a name into that form (letters and digits kept, lowercased).
"""

from __future__ import annotations

import unicodedata

#: code → aliases (nicknames, other spellings, the English name). Keep entries to names people really use.
ALIASES: dict[str, tuple[str, ...]] = {
    "005930": ("삼전", "삼성전자보통주", "Samsung Electronics"),
    "000660": ("하닉", "하이닉스", "에스케이하이닉스", "SK hynix", "Hynix"),
    "005380": ("현차", "현대자동차", "Hyundai Motor"),
    "373220": ("엘지엔솔", "엔솔", "LG엔솔", "엘지에너지솔루션", "LG Energy Solution"),
    "207940": ("삼바", "삼성바이오", "Samsung Biologics"),
    "000270": ("기아차", "기아자동차", "Kia"),
    "068270": ("셀트", "Celltrion"),
    "035420": ("네이버", "Naver"),
    "035720": ("카카오톡", "Kakao"),
    "005490": ("포스코", "포스코홀딩스", "포홀", "POSCO Holdings"),
    "051910": ("엘화", "엘지화학", "LG Chem"),
    "006400": ("삼디", "삼성에스디아이", "Samsung SDI"),
    "012330": ("Hyundai Mobis",),
    "105560": ("국민은행", "KB Financial Group"),
    "055550": ("신한금융", "신한은행", "Shinhan Financial Group"),
    "028260": ("Samsung C&T",),
    "066570": ("엘전", "엘지전자", "LG Electronics"),
    "096770": ("SK이노", "에스케이이노베이션", "SK Innovation"),
    "323410": ("카뱅", "KakaoBank"),
    "015760": ("한전", "KEPCO", "Korea Electric Power"),
    "032830": ("Samsung Life Insurance",),
    "009150": ("삼전기", "Samsung Electro-Mechanics"),
    "017670": ("SKT", "에스케이텔레콤", "SK Telecom"),
    "011200": ("현대상선", "에이치엠엠"),
    "012450": ("한화에어로", "한에어", "Hanwha Aerospace"),
    "329180": ("현중", "현대중공업", "HD Hyundai Heavy Industries"),
    "247540": ("에코비엠", "EcoPro BM"),
    "086520": ("EcoPro",),
    "003670": ("퓨처엠", "포스코케미칼", "POSCO Future M"),
    "034020": ("두에빌", "두산중공업", "Doosan Enerbility"),
    "259960": ("Krafton",),
    "036570": ("엔씨", "NCSOFT"),
    "352820": ("빅히트", "HYBE"),
    "003550": ("엘지", "LG Corp"),
    "010140": ("삼중", "Samsung Heavy Industries"),
    "018260": ("삼성SDS", "Samsung SDS"),
    "090430": ("아모레", "Amorepacific"),
    "051900": ("엘생", "엘지생활건강", "LG H&H"),
    "377300": ("카페", "KakaoPay"),
    "000810": ("Samsung Fire & Marine",),
    "086790": ("하나금융", "하나은행", "Hana Financial Group"),
    "316140": ("우리금융", "우리은행", "Woori Financial Group"),
    "024110": ("기은", "IBK"),
    "010130": ("고아", "Korea Zinc"),
    "010950": ("에쓰오일", "에스오일", "S-Oil"),
    "042660": ("대우조선해양", "Hanwha Ocean"),
    "196170": ("Alteogen",),
}

_CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"  # compatibility jamo, the letters a keyboard types
_CHOSEONG_SET = frozenset(_CHOSEONG)


def _nfkc(text: str) -> str:
    """NFKC, but lone initial consonants stay the letters a keyboard types.

    NFKC maps the compatibility letter ㅅ (U+3145) to the conjoining jamo U+1109; a lone one is mapped
    back, so ``ㅅㅅㅈㅈ`` typed on a phone and pasted from a Mac compare equal.
    """
    folded = unicodedata.normalize("NFKC", text)
    return "".join(_CHOSEONG[ord(ch) - 0x1100] if 0x1100 <= ord(ch) <= 0x1112 else ch for ch in folded)


def choseong(text: str) -> str:
    """``삼성전자`` → ``ㅅㅅㅈㅈ``; ``SK하이닉스`` → ``skㅎㅇㄴㅅ`` (non-Hangul kept, lowercased, spaces dropped)."""
    out = []
    for ch in _nfkc(text):
        offset = ord(ch) - 0xAC00
        if 0 <= offset < 11172:
            out.append(_CHOSEONG[offset // 588])
        elif not ch.isspace():
            out.append(ch.casefold())
    return "".join(out)


def is_choseong_query(text: str) -> bool:
    """True when ``text`` has initial consonants and no full syllable (ㅅㅅㅈㅈ, skㅎㅇㄴㅅ; not 삼성)."""
    compact = "".join(_nfkc(text).split())
    has_jamo = any(ch in _CHOSEONG_SET for ch in compact)
    return has_jamo and all(ch in _CHOSEONG_SET or ch.isascii() for ch in compact)
