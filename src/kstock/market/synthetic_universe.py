"""The instruments of the synthetic market: codes, Korean and English names, markets, sectors, kinds.

Split from :mod:`kstock.market.synthetic` so the price model stays readable. The universe looks like a
small slice of KRX on purpose: six-digit codes, names whose suffix matches the sector (so a person
reading a demo sees "대성제약" in 의약품, not in 건설업), both markets, and a few instruments that are
*not* common stocks (ETFs, a preferred share, a SPAC, a REIT) so the universe filter has work to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstock.market.types import InstrumentKind, Market, Ticker

#: Korean name parts with their romanisation, so ``name_en`` reads like the Korean name.
_FIRST = (
    ("한", "Han"), ("대", "Dae"), ("동", "Dong"), ("삼", "Sam"), ("신", "Shin"), ("세", "Se"),
    ("태", "Tae"), ("우", "Woo"), ("성", "Sung"), ("진", "Jin"), ("광", "Kwang"), ("영", "Young"),
    ("금", "Keum"), ("일", "Il"), ("국", "Kuk"), ("현", "Hyun"), ("경", "Kyung"), ("해", "Hae"),
    ("미", "Mi"), ("아", "A"), ("서", "Seo"), ("조", "Jo"), ("유", "Yu"), ("정", "Jung"),
)
_SECOND = (
    ("성", "sung"), ("진", "jin"), ("일", "il"), ("양", "yang"), ("화", "hwa"), ("원", "won"),
    ("영", "young"), ("우", "woo"), ("신", "shin"), ("광", "kwang"), ("림", "lim"), ("한", "han"),
    ("흥", "heung"), ("창", "chang"), ("보", "bo"), ("도", "do"), ("산", "san"), ("명", "myung"),
    ("인", "in"), ("솔", "sol"), ("륭", "ryung"), ("풍", "poong"),
)
#: Latin-letter prefixes as KRX names spell them in Hangul ("에스디", "케이씨", ...).
_LETTERS = (
    ("에스", "S"), ("케이", "K"), ("제이", "J"), ("엘", "L"), ("티", "T"), ("에이", "A"),
    ("디", "D"), ("씨", "C"), ("엠", "M"), ("비", "B"), ("에이치", "H"), ("아이", "I"),
)

#: Name suffixes per sector id (0 전기전자 … 12 기타), Korean and English.
_SUFFIXES: dict[int, tuple[tuple[str, str], ...]] = {
    0: (("전자", "Electronics"), ("반도체", "Semiconductor"), ("디스플레이", "Display"),
        ("이노텍", "Innotek"), ("일렉트릭", "Electric"), ("테크", "Tech"), ("전기", "Electric")),
    1: (("금융지주", "Financial Group"), ("증권", "Securities"), ("캐피탈", "Capital"),
        ("화재", "Fire & Marine"), ("생명", "Life"), ("인베스트먼트", "Investment"), ("은행", "Bank")),
    2: (("소프트", "Soft"), ("엔터", "Entertainment"), ("게임즈", "Games"), ("네트웍스", "Networks"),
        ("미디어", "Media"), ("플랫폼", "Platform"), ("커뮤니케이션즈", "Communications")),
    3: (("제약", "Pharm"), ("바이오", "Bio"), ("약품", "Pharmaceutical"), ("파마", "Pharma"),
        ("바이오로직스", "Biologics"), ("헬스케어", "Healthcare"), ("메디칼", "Medical")),
    4: (("유통", "Distribution"), ("상사", "Trading"), ("리테일", "Retail"), ("쇼핑", "Shopping"),
        ("물산", "C&T"), ("백화점", "Department Store")),
    5: (("철강", "Steel"), ("제강", "Steel Works"), ("금속", "Metal"), ("스틸", "Steel"),
        ("메탈", "Metal"), ("특수강", "Special Steel")),
    6: (("기계", "Machinery"), ("중공업", "Heavy Industries"), ("엔지니어링", "Engineering"),
        ("기공", "Machine Works"), ("로보틱스", "Robotics"), ("정밀기계", "Precision Machinery")),
    7: (("화학", "Chemical"), ("케미칼", "Chemical"), ("소재", "Materials"), ("석유화학", "Petrochemical"),
        ("첨단소재", "Advanced Materials"), ("페인트", "Paint")),
    8: (("건설", "Construction"), ("종합건설", "General Construction"), ("산업개발", "Development"),
        ("이앤씨", "E&C"), ("토건", "Engineering & Construction")),
    9: (("식품", "Foods"), ("제과", "Confectionery"), ("푸드", "Food"), ("음료", "Beverage"),
        ("제당", "Sugar"), ("주조", "Brewery")),
    10: (("해운", "Shipping"), ("항공", "Airlines"), ("물류", "Logistics"), ("모터스", "Motors"),
         ("로지스틱스", "Logistics"), ("운송", "Transport"), ("오토텍", "Autotech")),
    11: (("산업", "Industrial"), ("공업", "Industry"), ("정공", "Precision"), ("인더스트리", "Industries"),
         ("테크놀로지", "Technology")),
    12: (("텔레콤", "Telecom"), ("에너지", "Energy"), ("가스", "Gas"), ("전력", "Power"), ("방직", "Textile"),
         ("제지", "Paper"), ("시멘트", "Cement"), ("광업", "Mining")),
}

#: Relative weight of each sector among generated commons (전기전자 and 의약품 dominate KOSDAQ).
_SECTOR_WEIGHTS = np.array([16, 7, 12, 12, 6, 5, 8, 8, 4, 5, 6, 7, 4], dtype=float)

#: Stems of real business groups: "삼성화재" or "SK텔레콤" under a made-up code would mislead a demo.
_FAMOUS_STEMS = frozenset({"Samsung", "Hanhwa", "Daehan", "Shinhan", "Daewoo", "Hanjin", "Dongwon", "SK", "KT",
                           "KB", "CJ", "LS", "HD", "SD"})

KOSPI_SHARE = 0.4
N_SECTORS = 13


@dataclass(frozen=True)
class Listing:
    """One instrument of the synthetic universe plus what the price model needs to know about it."""

    ticker: Ticker
    start_price: float
    parent: int | None = None  # position of the common stock a preferred share tracks


# code, name, name_en, market, sector, listed, start price — the names people try first in a demo.
_REFERENCE: tuple[tuple[str, str, str, Market, int, str, float], ...] = (
    ("005930", "삼성전자", "Samsung Electronics", Market.KOSPI, 0, "1975-06-11", 58_000),
    ("000660", "SK하이닉스", "SK hynix", Market.KOSPI, 0, "1996-12-26", 96_000),
    ("035420", "NAVER", "NAVER", Market.KOSPI, 2, "2008-11-28", 240_000),
    ("035720", "카카오", "Kakao", Market.KOSPI, 2, "2017-07-10", 78_000),
    ("068270", "셀트리온", "Celltrion", Market.KOSPI, 3, "2018-02-09", 165_000),
    ("105560", "KB금융", "KB Financial Group", Market.KOSPI, 1, "2008-10-10", 47_000),
)
_ETFS = (("069500", "KODEX 200", "KODEX 200", "2002-10-14"), ("102110", "TIGER 200", "TIGER 200", "2008-04-03"))
N_REFERENCE = len(_REFERENCE)  # the reference names come first in the universe
_RESERVED = {c for c, *_ in _REFERENCE} | {c for c, *_ in _ETFS}


def build_universe(n_tickers: int, rng: np.random.Generator, days: np.ndarray) -> list[Listing]:
    """About ``n_tickers`` instruments: the reference names, generated commons and a few non-commons.

    ``days`` are the trading days of the price history; they place the mid-period listings and the
    delisting so that their price rows really start late / stop early.
    """
    n_special = len(_ETFS) + 4  # two preferreds, a SPAC, a REIT
    n_generated = n_tickers - n_special - len(_REFERENCE)
    if n_generated < N_SECTORS:
        raise ValueError(f"n_tickers must be at least {n_special + len(_REFERENCE) + N_SECTORS}")
    listings = [_reference(row) for row in _REFERENCE]
    used_names = {li.ticker.name for li in listings}
    codes = _common_codes(rng, n_generated)
    sectors = _sectors(rng, n_generated)
    markets = _markets(rng, n_generated)
    for code, sector, market, listed in zip(codes, sectors, markets, _listing_dates(rng, codes, days), strict=True):
        name, name_en = _unique_name(rng, int(sector), used_names)
        ticker = Ticker(code, name, market, InstrumentKind.COMMON, int(sector), listed, None, name_en)
        listings.append(Listing(ticker, _start_price(rng, market)))
    _mid_period_events(listings, rng, days)
    return listings + _specials(listings, rng, used_names, days[0])


def _reference(row: tuple[str, str, str, Market, int, str, float]) -> Listing:
    code, name, name_en, market, sector, listed, price = row
    return Listing(Ticker(code, name, market.value, InstrumentKind.COMMON, sector, listed, None, name_en), price)


def _common_codes(rng: np.random.Generator, n: int) -> list[str]:
    """Unique multiples of 10 in 000010–399990 (commons end in 0; 5 is left for preferreds)."""
    pool = np.arange(1, 40_000) * 10
    picked: list[str] = []
    for value in rng.permutation(pool):
        code = f"{value:06d}"
        if code not in _RESERVED:
            picked.append(code)
        if len(picked) == n:
            return picked
    raise ValueError("ran out of codes")  # pragma: no cover - 40k codes are plenty


def _sectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Every sector once, the rest by weight, shuffled so the guaranteed ones are not all first."""
    rest = rng.choice(N_SECTORS, size=n - N_SECTORS, p=_SECTOR_WEIGHTS / _SECTOR_WEIGHTS.sum())
    return rng.permutation(np.concatenate([np.arange(N_SECTORS), rest]))


def _markets(rng: np.random.Generator, n: int) -> list[str]:
    """KOSPI for about 40 % of the whole universe (the reference names are all KOSPI)."""
    n_kospi = max(1, round(KOSPI_SHARE * (n + len(_REFERENCE))) - len(_REFERENCE))
    flags = np.zeros(n, dtype=bool)
    flags[:n_kospi] = True
    return [Market.KOSPI.value if f else Market.KOSDAQ.value for f in rng.permutation(flags)]


def _unique_name(rng: np.random.Generator, sector: int, used: set[str]) -> tuple[str, str]:
    """A plausible Korean company name (stem + sector suffix) not used yet, with its English name."""
    suffixes = _SUFFIXES[sector]
    for _ in range(1_000):
        if rng.random() < 0.25:
            a, b = (_LETTERS[i] for i in rng.choice(len(_LETTERS), size=2, replace=False))
            stem_kr, stem_en = a[0] + b[0], a[1] + b[1]
        else:
            a, b = _FIRST[rng.integers(len(_FIRST))], _SECOND[rng.integers(len(_SECOND))]
            stem_kr, stem_en = a[0] + b[0], a[1] + b[1]
        suf_kr, suf_en = suffixes[rng.integers(len(suffixes))]
        name = stem_kr + suf_kr
        if name not in used and stem_en not in _FAMOUS_STEMS:
            used.add(name)
            return name, f"{stem_en} {suf_en}"
    raise ValueError("could not find a fresh name")  # pragma: no cover - ~40k combinations per sector


def _listing_dates(rng: np.random.Generator, codes: list[str], days: np.ndarray) -> list[str]:
    """Listing dates before the price history, older for lower codes (KRX hands out codes in order)."""
    first, last = np.datetime64("1976-01-02", "D"), days[0] - np.timedelta64(30, "D")
    offsets = np.sort(rng.integers(0, int((last - first).astype(int)) + 1, size=len(codes)))
    rank = np.argsort(np.argsort([int(c) for c in codes], kind="stable"), kind="stable")
    return [str(first + np.timedelta64(int(offsets[r]), "D")) for r in rank]


def _start_price(rng: np.random.Generator, market: str) -> float:
    """Lognormal levels as on KRX: most names at a few thousand to tens of thousands of KRW, KOSDAQ cheaper."""
    median = 7_000 if market == Market.KOSDAQ else 18_000
    return float(np.clip(np.exp(rng.normal(np.log(median), 1.0)), 1_000, 500_000))


def _mid_period_events(listings: list[Listing], rng: np.random.Generator, days: np.ndarray) -> None:
    """Two generated KOSDAQ commons list mid-period and one generated common delists before the end."""
    n = len(days)
    generated = list(range(len(_REFERENCE), len(listings)))
    kosdaq = [i for i in generated if listings[i].ticker.market == Market.KOSDAQ]
    picks = rng.choice(kosdaq if len(kosdaq) >= 3 else generated, size=3, replace=False)
    for j, i in enumerate(picks):
        t = listings[i].ticker
        if j < 2:  # listed at 30 % / 60 % of the period
            day = str(days[int(n * (0.3 + 0.3 * j))])
            new = Ticker(t.code, t.name, t.market, t.kind, t.sector_id, day, None, t.name_en)
        else:  # delisted at 75 %: the last price row is the trading day before
            new = Ticker(t.code, t.name, t.market, t.kind, t.sector_id, t.listing_date, str(days[int(n * 0.75)]),
                         t.name_en)
        listings[i] = Listing(new, listings[i].start_price)


def _specials(
    commons: list[Listing], rng: np.random.Generator, used: set[str], first_day: np.datetime64
) -> list[Listing]:
    """ETFs, preferred shares (삼성전자우 and one generated), a SPAC and a REIT."""
    out = [
        Listing(Ticker(code, name, Market.KOSPI.value, InstrumentKind.ETF, None, listed, None, en), 35_000.0)
        for code, name, en, listed in _ETFS
    ]
    samsung = commons[0]
    out.append(_preferred(samsung, 0, "1989-09-25"))
    kospi = [i for i in range(len(_REFERENCE), len(commons))
             if commons[i].ticker.market == Market.KOSPI and commons[i].ticker.delisting_date is None
             and str(commons[i].ticker.listing_date) < str(first_day)]
    parent = int(rng.choice(kospi)) if kospi else 1  # 1 = SK하이닉스 when no generated KOSPI name fits
    out.append(_preferred(commons[parent], parent, commons[parent].ticker.listing_date))
    out.append(_spac_or_reit(rng, used, InstrumentKind.SPAC, str(first_day - np.timedelta64(90, "D"))))
    out.append(_spac_or_reit(rng, used, InstrumentKind.REIT, "2019-08-01"))
    return out


def _preferred(common: Listing, parent: int, listed: str | None) -> Listing:
    """The preferred share of ``common``: code ends in 5, name gets 우, trades at a discount."""
    t = common.ticker
    ticker = Ticker(t.code[:5] + "5", t.name + "우", t.market, InstrumentKind.PREFERRED, t.sector_id, listed,
                    None, f"{t.name_en} (1P)" if t.name_en else None)
    return Listing(ticker, common.start_price * 0.82, parent=parent)


def _spac_or_reit(rng: np.random.Generator, used: set[str], kind: InstrumentKind, listed: str) -> Listing:
    """A SPAC ("…스팩1호", KOSDAQ, near 2,000 KRW) or a REIT ("…리츠", KOSPI, near 5,000 KRW)."""
    lo = 40_000 if kind == InstrumentKind.SPAC else 42_500  # above the commons' range: never collides
    code = f"{int(rng.integers(lo, lo + 2_500)) * 10:06d}"
    a, b = _FIRST[rng.integers(len(_FIRST))], _SECOND[rng.integers(len(_SECOND))]
    if kind == InstrumentKind.SPAC:
        name, en, market, price = f"{a[0]}{b[0]}스팩1호", f"{a[1]}{b[1]} SPAC 1", Market.KOSDAQ, 2_050.0
    else:
        name, en, market, price = f"{a[0]}{b[0]}리츠", f"{a[1]}{b[1]} REIT", Market.KOSPI, 5_000.0
    used.add(name)
    return Listing(Ticker(code, name, market.value, kind, None, listed, None, en), price)
