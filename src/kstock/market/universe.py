"""What each listed code is, which ones are scored, and how a user's query finds a ticker.

Six-digit KRX codes do not say what they are: ETFs (069500 KODEX 200), preferred shares (005935
삼성전자우), SPACs and REITs share the same code space as common stocks, and newer codes carry letters
(0030R0, 45226K). So instruments are classified from what they are — their market column, their name
and the source lists — never from the shape of the code (DESIGN §2, "Universe").
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kstock.market.aliases import ALIASES, choseong, is_choseong_query
from kstock.market.types import InstrumentKind, Ticker

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

#: Longest query `TickerIndex.resolve` looks at; longer input is a paste accident, not a stock name.
MAX_QUERY_LEN = 40
#: At most this many candidates / suggestions are returned (a chat reply lists them all).
MAX_CANDIDATES = 10
MAX_SUGGESTIONS = 5
#: Letter-level similarity (difflib ratio) a name needs to be offered as "did you mean".
SUGGEST_CUTOFF = 0.7
#: A 초성 query (ㅅㅅㅈㅈ) that fits several names goes straight to the most traded one when it trades at least
#: this many times the runner-up's value (삼성전자 vs 상신전자); otherwise the user picks from the list.
CHOSEONG_DOMINANCE = 10.0

#: Fund brands KRX ETF names start with ("KODEX 200", "TIGER 미국S&P500"). A space must follow the
#: brand, so common stocks that merely begin with the same letters (HK이노엔, 파워넷, BNK금융지주) stay common.
ETF_BRANDS: tuple[str, ...] = (
    "KODEX", "TIGER", "KBSTAR", "ARIRANG", "HANARO", "KOSEF", "SOL", "ACE", "RISE", "PLUS", "KIWOOM",
    "TIMEFOLIO", "KINDEX", "TREX", "FOCUS", "SMART", "TRUSTON", "UNICORN", "WOORI", "BNK", "HK",
    "VITA", "KoAct", "TIME", "1Q", "WON", "KCGI", "DAISHIN343", "마이다스", "파워", "에셋플러스", "마이티",
    "히어로즈", "KTOP",
)
_ETF_BRAND_RE = re.compile(r"^(?:" + "|".join(re.escape(b) for b in ETF_BRANDS) + r")\s", re.IGNORECASE)
_ETN_RE = re.compile(r"(?<![A-Za-z])ETN(?![A-Za-z])", re.IGNORECASE)
# "리츠" must end the name (롯데리츠, 신한알파리츠, …리츠2호) or start it as the 이리츠 brand: it also occurs
# inside ordinary names (메리츠화재, 메리츠금융지주, 블리츠웨이엔터테인먼트), which are not REITs.
_REIT_RE = re.compile(r"(?:리츠(?:\d+호)?|REITs?|부동산투자회사)$|^이리츠", re.IGNORECASE)
_SPAC_WORDS = ("스팩", "기업인수목적")
# Listed funds (투자회사 and 집합투자 vehicles) trade like shares but are not companies: infrastructure funds
# (맥쿼리인프라, KB발해인프라), ship and aircraft investment companies (…선박투자회사, 바다로19호, 하이골드12호),
# oil and property funds (한국ANKOR유전, 맵스리얼티1). Names alone catch the usual ones; the KSIC industry
# 신탁업 및 집합투자업 catches the rest, except the operating firms filed under it: trust companies
# (한국토지신탁) and venture capital houses (SBI인베스트먼트, WICS 창업투자).
_FUND_NAME_RE = re.compile(
    r"(?:투자회사|선박\d*호|(?:바다로|하이골드|동북아|아시아퍼시픽|해외자원)\d+호|유전|리얼티\d*)$"
    r"|^(?:맥쿼리|KB발해|발해)인프라$"
)
_FUND_KSIC = "신탁업 및 집합투자업"
_NOT_FUND_WICS_SMALL = frozenset({"창업투자"})
# Preferred share names: base name + optional 전환상환 + optional series digit + 우 + optional class
# letter + optional (전환): 삼성전자우, 현대차2우B, 아모레퍼시픽홀딩스3우C, CJ4우(전환), 동방전환상환3우B;
# older listings wrote the suffix in brackets or in full: 한미은행(1우B), 서울시스템우선, 서울시스템2우1신.
_PREFERRED_RE = re.compile(
    r"^(?P<base>.+?)\s*(?:전환상환)?(?:\(\d?우[A-C]?\)|\d?우(?:[A-C]|선|\d신)?(?:\(전환\))?)$"
)
# Real common-stock names that end in 우 as part of a word (대우, 성우, 연우, 미우, 이오플로우, 에코글로우,
# 베스트플로우). Checked as whole names, and as endings for the longer words.
_COMMON_NAMES_ENDING_IN_WOO = frozenset({"대우", "성우", "연우", "미우"})
_COMMON_WORD_ENDINGS_IN_WOO = ("대우", "플로우", "글로우")
#: A KRX short code: six characters, a digit first; newer listings carry letters anywhere after it (0030R0,
#: 45226K), so a query of that shape is looked up as a code before it is read as a name.
_CODE_RE = re.compile(r"^[0-9][0-9A-Z]{5}$")


def _is_preferred(name: str, listed_names: Collection[str] | None) -> bool:
    """Whether ``name`` is a preferred share's name.

    The suffix alone is not enough (성우, 이오플로우 end in 우), so when the caller knows the listed names
    the evidence is the common share itself: the name minus its suffix is listed (삼성전자우 → 삼성전자),
    or is the start of a listed name, because KRX truncates long preferred names (코리아써우 →
    코리아써키트). Without a list, the suffix decides unless the name ends in a known word.
    """
    match = _PREFERRED_RE.match(name.strip())
    if match is None:
        return False
    base = match["base"].strip()
    if listed_names is not None and base in listed_names:
        return True
    bare = name.strip()
    if bare in _COMMON_NAMES_ENDING_IN_WOO or bare.endswith(_COMMON_WORD_ENDINGS_IN_WOO):
        return False
    if listed_names is None:
        return True
    return len(base) >= 2 and any(other != bare and other.startswith(base) for other in listed_names)


def classify_instrument(
    code: str, name: str, market: str | None = None, hints: Mapping[str, object] | None = None
) -> InstrumentKind:
    """What kind of instrument ``code``/``name`` is.

    ``market`` is the source's market column ("ETF" in tickers.csv marks funds). ``hints`` may carry
    ``kosdaq_dept`` (KOSDAQ 소속부; 'SPAC(소속부없음)' marks SPACs), ``secu_group`` (KRX 증권구분;
    '부동산투자회사' marks REITs whose names do not say 리츠, such as 코크렙15호), ``ksic_industry`` and
    ``wics_small`` (together they mark funds, see ``_FUND_NAME_RE``) and ``listed_names``
    (every listed name, which makes preferred-share detection exact, see `_is_preferred`). ``code`` is
    accepted for the caller's convenience only: its shape decides nothing.
    """
    del code  # deliberately unused: see the module docstring
    hints = hints or {}
    text = (name or "").strip()
    market_text = (market or "").strip().upper()
    if market_text == "ETF":
        return InstrumentKind.ETF
    if market_text == "ETN" or _ETN_RE.search(text):
        return InstrumentKind.ETN
    if _ETF_BRAND_RE.match(text):
        return InstrumentKind.ETF
    dept = str(hints.get("kosdaq_dept") or "")
    if any(word in text for word in _SPAC_WORDS) or dept.upper().startswith("SPAC"):
        return InstrumentKind.SPAC
    if _REIT_RE.search(text) or str(hints.get("secu_group") or "").strip() == "부동산투자회사":
        return InstrumentKind.REIT
    if _is_fund(text, hints):
        return InstrumentKind.FUND
    listed = hints.get("listed_names")
    if _is_preferred(text, listed if isinstance(listed, Collection) else None):
        return InstrumentKind.PREFERRED
    return InstrumentKind.COMMON


def _is_fund(name: str, hints: Mapping[str, object]) -> bool:
    if _FUND_NAME_RE.search(name):
        return True
    ksic = str(hints.get("ksic_industry") or "").strip()
    wics_small = str(hints.get("wics_small") or "").strip()
    return ksic == _FUND_KSIC and "신탁" not in name and wics_small not in _NOT_FUND_WICS_SMALL


def classify_rows(rows: Iterable[Mapping[str, str]]) -> dict[str, InstrumentKind]:
    """Classify a whole listing (rows with code, name, market[, kosdaq_dept, secu_group]; tickers.csv).

    The rows' own names serve as ``listed_names``, so a preferred share is recognised by its common
    share being in the same listing.
    """
    rows = list(rows)
    names = frozenset((r.get("name") or "").strip() for r in rows)
    return {
        r["code"]: classify_instrument(
            r["code"], r.get("name") or "", r.get("market"),
            {"kosdaq_dept": r.get("kosdaq_dept"), "secu_group": r.get("secu_group"),
             "ksic_industry": r.get("ksic_industry"), "wics_small": r.get("wics_small"), "listed_names": names},
        )
        for r in rows
    }


def is_scorable(t: Ticker, as_of: str | None = None) -> bool:
    """Only common stocks that are still listed are scored (on ``as_of``, an ISO date, when given)."""
    if t.kind != InstrumentKind.COMMON:
        return False
    if t.delisting_date is None:
        return True
    return as_of is not None and as_of < t.delisting_date


#: Control characters (C0, DEL, C1) and the bidirectional controls that reorder the text after them.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def recent_traded_value(store: MarketStore, days: int = 20) -> dict[str, float]:
    """code → average daily traded value (close × volume, 원) over the store's last ``days`` trading days:
    the order of ambiguous lookups where the model data is not loaded (``kstock lookup``)."""
    from kstock.market.calendar import TradingCalendar
    from kstock.market.store_reads import traded_value_since

    stored = TradingCalendar.from_store(store).days
    if not len(stored):
        return {}
    since = int(str(stored[-min(days, len(stored))]).replace("-", ""))
    return {code: total / days for code, total in traded_value_since(store, since).items()}


def printable(text: str) -> str:
    """``text`` safe to echo back in a chat reply or on a terminal.

    Queries are echoed in error messages ("'삼송전자': no stock matches"). Raw, a pasted newline splits the
    CLI's one error line, an ESC sequence recolours or clears the user's terminal, and a bidi override
    (U+202E) reverses the rest of the message; each such character is shown as U+FFFD instead.
    """
    return _UNSHOWABLE.sub("\ufffd", text)


def _nfkc(text: str) -> str:
    """One spelling per character: macOS pastes Hangul as decomposed letters (ㅅㅏㅁ for 삼, NFD) and a
    Korean IME in full-width mode types ０-９ and Ａ-Ｚ; without this neither 삼성전자 nor ００５９３０ is found."""
    return unicodedata.normalize("NFKC", text)


def _norm(text: str) -> str:
    """Case-, whitespace- and width-insensitive form ("Samsung  Electronics" == "samsungelectronics")."""
    return re.sub(r"\s+", "", _nfkc(text)).casefold()


def _jamo(text: str) -> str:
    """Hangul syllables split into their letters (성 → ㅅㅓㅇ).

    Typos change one letter, not a whole syllable: compared syllable by syllable, 삼송전자 is as far from
    삼성전자 as from 삼화전자; compared letter by letter it is clearly closest to 삼성전자.
    """
    out = []
    for ch in text:
        offset = ord(ch) - 0xAC00
        if 0 <= offset < 11172:
            out.append(chr(0x1100 + offset // 588) + chr(0x1161 + offset % 588 // 28))
            if offset % 28:
                out.append(chr(0x11A7 + offset % 28))
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class LookupResult:
    """Outcome of resolving a user's query: one ``match``, several ``candidates``, or an ``error``.

    ``suggestions`` are near misses (typos) offered when nothing matched.
    """

    query: str
    match: Ticker | None = None
    candidates: list[Ticker] = field(default_factory=list)
    suggestions: list[Ticker] = field(default_factory=list)
    error: str | None = None
    #: How many tickers fitted before ``candidates`` was cut to :data:`MAX_CANDIDATES` (for "외 N개").
    total: int = 0

    @property
    def ambiguous(self) -> bool:
        """Several tickers fit and the user has to pick one."""
        return self.match is None and bool(self.candidates)


class TickerIndex:
    """Resolves codes, Korean names, English names, nicknames and 초성 to tickers, with typo suggestions.

    ``aliases`` (code → nicknames, default :data:`kstock.market.aliases.ALIASES`) count as names of the
    listed code they belong to.
    """

    def __init__(self, tickers: Sequence[Ticker], aliases: Mapping[str, Sequence[str]] = ALIASES) -> None:
        self._tickers = list(tickers)
        self._by_code = {t.code: t for t in self._tickers}
        self._aliases = {code: tuple(names) for code, names in aliases.items() if code in self._by_code}
        self._keyed = [(t, self._keys(t)) for t in self._tickers]
        self._by_name: dict[str, list[Ticker]] = {}
        for t, keys in self._keyed:
            for key in keys:
                self._by_name.setdefault(key, []).append(t)
        self._spelled = [(key, _jamo(key)) for key in self._by_name]
        self._by_choseong: dict[str, list[Ticker]] = {}
        for t in self._tickers:
            self._by_choseong.setdefault(choseong(t.name), []).append(t)

    def _names(self, t: Ticker) -> list[str]:
        return [n for n in (t.name, t.name_en, *self._aliases.get(t.code, ())) if n]

    def _keys(self, t: Ticker) -> set[str]:
        return {_norm(n) for n in self._names(t) if _norm(n)}

    def _rank(self, t: Ticker, key: str, popularity: Mapping[str, float] | None = None) -> tuple:
        """Relevance order: listed before delisted, common first, then the most traded (when ``popularity``,
        code → recent traded value, is known), prefix before infix, shorter first."""
        prefix = any(_norm(n).startswith(key) for n in self._names(t))
        traded = -float(popularity.get(t.code, 0.0)) if popularity else 0.0
        return (t.delisting_date is not None, t.kind != InstrumentKind.COMMON, traded, not prefix, len(t.name), t.code)

    def resolve(self, query: str, popularity: Mapping[str, float] | None = None) -> LookupResult:
        """Find the ticker a user means by ``query`` (code, exact name or nickname, 초성, part of a name, or a
        typo). ``popularity`` (code → recent traded value) orders ambiguous matches, likely intent first."""
        text = _nfkc(query or "").strip()
        if not text:
            return LookupResult(query, error="종목명이나 종목코드를 입력하세요.")
        if len(text) > MAX_QUERY_LEN:
            return LookupResult(query, error=f"입력이 너무 깁니다 (최대 {MAX_QUERY_LEN}자).")
        if _CODE_RE.match(text.upper()):
            found = self._by_code.get(text.upper())
            if found is not None:
                return LookupResult(query, match=found)
            if text.isdigit():
                return self._unknown_code(query, text)
        if text.isdigit() and len(text) < 6:  # spreadsheets drop leading zeros: 5930 means 005930
            found = self._by_code.get(text.zfill(6))
            if found is not None:
                return LookupResult(query, match=found)
        if is_choseong_query(text):
            found = self._resolve_choseong(query, choseong(text), popularity)
            if found is not None:
                return found
        return self._resolve_name(query, _norm(text), popularity)

    def _resolve_choseong(self, query: str, key: str, popularity: Mapping[str, float] | None) -> LookupResult | None:
        """ㅅㅅㅈㅈ → 삼성전자: an exact 초성 match first (the dominant one when several fit), then 초성 prefixes."""
        exact = [t for t in self._by_choseong.get(key, []) if t.delisting_date is None] or self._by_choseong.get(key)
        fits = exact or [t for k, ts in self._by_choseong.items() if k.startswith(key) for t in ts]
        if not fits:
            return None
        fits = sorted(set(fits), key=lambda t: self._rank(t, "", popularity))
        if len(fits) == 1:
            return LookupResult(query, match=fits[0])
        if exact and popularity:
            top, second = (float(popularity.get(t.code, 0.0)) for t in fits[:2])
            if top > 0 and top >= CHOSEONG_DOMINANCE * second:
                return LookupResult(query, match=fits[0])
        return LookupResult(query, candidates=fits[:MAX_CANDIDATES], total=len(fits))

    def _unknown_code(self, query: str, code: str) -> LookupResult:
        """A well-formed code that is not listed; codes sharing its first five digits are offered."""
        near = sorted((t for t in self._tickers if t.code[:5] == code[:5]), key=lambda t: self._rank(t, ""))[
            :MAX_SUGGESTIONS
        ]
        message = f"{code}: 등록되지 않은 종목코드입니다."
        if near:  # say what to do: the neighbours, or searching by name
            message += " 혹시 이 종목인가요? " + ", ".join(f"{t.code} {t.name}" for t in near)
        else:
            message += " 종목명으로 검색해 보세요."
        return LookupResult(query, suggestions=near, error=message)

    def _resolve_name(self, query: str, key: str, popularity: Mapping[str, float] | None = None) -> LookupResult:
        exact = self._by_name.get(key)
        if exact:
            ranked = sorted(exact, key=lambda t: self._rank(t, key, popularity))
            return LookupResult(query, match=ranked[0])
        partial = [t for t, keys in self._keyed if any(key in k for k in keys)]
        if len(partial) == 1:
            return LookupResult(query, match=partial[0])
        if partial:
            partial.sort(key=lambda t: self._rank(t, key, popularity))
            return LookupResult(query, candidates=partial[:MAX_CANDIDATES], total=len(partial))
        suggestions = self._suggest(key)
        hint = ", ".join(t.name for t in suggestions)
        shown = printable(query.strip())
        message = f"'{shown}': 일치하는 종목이 없습니다."
        if hint:
            message += f" 혹시 이 종목인가요? {hint}"
        return LookupResult(query, suggestions=suggestions, error=message)

    def _suggest(self, key: str) -> list[Ticker]:
        """Near misses by letter-level similarity (삼송전자 → 삼성전자), best first; ties go to listed commons."""
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(_jamo(key))
        scored: list[tuple[float, tuple, Ticker]] = []
        for name_key, spelled in self._spelled:
            matcher.set_seq1(spelled)
            if matcher.real_quick_ratio() >= SUGGEST_CUTOFF and matcher.quick_ratio() >= SUGGEST_CUTOFF:
                ratio = matcher.ratio()
                if ratio >= SUGGEST_CUTOFF:
                    scored.extend((-ratio, self._rank(t, name_key), t) for t in self._by_name[name_key])
        scored.sort(key=lambda item: item[:2])
        out: list[Ticker] = []
        for _, _, t in scored:
            if t not in out:
                out.append(t)
        return out[:MAX_SUGGESTIONS]
