"""Bad input, property-based (issue 7, item 3): `/analyze` arguments, `lookup` queries and CSV imports.

Whatever a user types or a folder holds: no unhandled exception; every reply is either the normal
answer or one clear message (non-empty, no traceback, no Python repr, no raw control characters, within
Telegram's 4,096 characters, saying what was wrong or offering candidates); and a rejected CSV file leaves
the store exactly as it was while the good files of the same import still land.

Hypothesis drives the service layer the bot uses (``answer_analysis`` with a recording bot, the
``TickerIndex``, ``kstock lookup`` and ``kstock data import`` in-process); a handful of the nastiest
queries also go once through the real bot stack against the fake Telegram server.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kstock.bot import messages
from kstock.bot.handlers import answer_analysis
from kstock.bot.runtime import BotRuntime
from kstock.bot.security import MAX_QUERY_CHARS
from kstock.cli import main
from kstock.market.calendar import is_krx_holiday
from kstock.market.store import MarketStore
from kstock.market.synthetic import generate_market
from kstock.market.types import InstrumentKind, MarketData, Ticker
from kstock.market.universe import MAX_CANDIDATES, MAX_SUGGESTIONS, TickerIndex, printable, recent_traded_value
from kstock.service.analyze import Analysis
from kstock.service.context import Services
from kstock.service.presenters import DISCLAIMER
from support.fake_telegram._markup import check_entities, visible_length
from support.workspace import copy_workspace, synth_settings

pytestmark = pytest.mark.timeout(300)

#: Hypothesis: no deadline (two shared cores), no example database in the tree, module fixtures are fine.
#: The same examples every run (a CI run must not go red on a case no change of ours produced); set
#: KSTOCK_FUZZ=random to search new ones — each one found becomes an @example below.
FUZZ = {"deadline": None, "database": None, "derandomize": os.environ.get("KSTOCK_FUZZ") != "random",
        "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}

#: Tickers with KRX's newer letter codes (0030R0, 45226K), added to the synthetic stores.
LETTER_CODE_TICKERS = [Ticker(code="0030R0", name="가온신소재", market="KOSPI", name_en="Gaon New Materials"),
                       Ticker(code="45226K", name="한별로직스", market="KOSDAQ")]

#: Things people (and paste accidents) send. Names are from the synthetic markets (seed 1 and 3).
NASTY_QUERIES = [
    "", " ", "\t\n ", "5930", "005930x", "0059300", "005930", " 005930 ", "005 930", "005931", "000000",
    "0030R0", "0030r0", "45226k", "삼성", "삼성전자", "삼송전자", "삼성 전자", "SAMSUNG electronics", "삼성전자우",
    "KODEX 200", "KODEX", "스팩", "리츠", "카카오", "ㅅㅅㅈㅈ", "'; DROP TABLE tickers; --",
    "' OR '1'='1", "%", "_", "%%", "%_%", "*", "\\", "'", '"', "<b>삼성</b>", "&amp;", "a:005930", "/start",
    "None", "nan", "inf", "-1", "0", "1e5", "\x00", "\x1b[2J\x1b[31m삼성전자", "삼성\n전자", "\u202e자전성삼",
    "삼성전자\u200b", "\ufeff삼성전자", "😀", "👨‍👩‍👧", "🇰🇷" * 20, "x" * 41, "가" * 40, "가" * 41, "가" * 4000,
    "ValueError", "Traceback (most recent call last):", "<object object at 0x7f>",
    unicodedata.normalize("NFD", "삼성전자"), "００５９３０", "ＮＡＶＥＲ",  # macOS-pasted jamo; full-width IME input
]
KNOWN_NAMES = ["삼성전자", "SK하이닉스", "NAVER", "카카오", "셀트리온", "KB금융", "KODEX 200", "삼성전자우",
               "Samsung Electronics", "가온신소재", "TIGER 200"]

hangul = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
odd_chars = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Mn", "So", "Sm", "Po", "Nd", "No"])


@st.composite
def typos(draw: st.DrawFn) -> str:
    """A stored name with one letter dropped, replaced, inserted or swapped."""
    name = draw(st.sampled_from(KNOWN_NAMES))
    i = draw(st.integers(0, len(name) - 1))
    ch = draw(st.one_of(hangul, st.characters(codec="ascii", categories=["L", "N"])))
    edit = draw(st.sampled_from(["drop", "replace", "insert", "swap"]))
    if edit == "drop":
        return name[:i] + name[i + 1:]
    if edit == "replace":
        return name[:i] + ch + name[i + 1:]
    if edit == "insert":
        return name[:i] + ch + name[i:]
    j = min(i + 1, len(name) - 1)
    chars = list(name)
    chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


queries = st.one_of(
    st.sampled_from(NASTY_QUERIES),
    st.text(max_size=50),
    st.text(odd_chars, max_size=12),
    st.text(hangul, min_size=1, max_size=8),
    st.from_regex(r"\A\s?[0-9]{3,8}[A-Za-z0-9]?\s?\Z", fullmatch=True),
    typos(),
    st.builds(lambda a, name, b: a + name + b, st.text(odd_chars, max_size=2), st.sampled_from(KNOWN_NAMES),
              st.text(odd_chars, max_size=2)),
    st.text(min_size=MAX_QUERY_CHARS + 1, max_size=600),
)

#: What must never reach a user: tracebacks, reprs, exception class names, escaped strings, None/NaN.
REPR_LEAK = re.compile(r"Traceback|object at 0x|<[\w.]+ object|\b\w*(?:Error|Exception)\b|"
                       r"\b(?:Ticker|LookupResult|Analysis|PredictionResult|Reason)\(|\\x[0-9a-f]{2}|"
                       r"\\u[0-9a-f]{4}|\bNone\b|\bnan\b|\binf\b")
TICKER_MENTION = re.compile(r"\([0-9A-Z]{6}\)|[0-9][0-9A-Z]{5}")


BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def control_chars(text: str) -> list[str]:
    """Characters a reply must not carry: control characters but the line break, and bidi overrides."""
    return [c for c in text if (unicodedata.category(c) == "Cc" and c != "\n") or c in BIDI_CONTROLS]


def assert_clear_message(text: str, query: str) -> None:
    """A message a person can act on: not blank, no control characters, no traceback or repr (the user's
    own words, echoed back, may say anything), and it names the query or a ticker, or says what to do."""
    assert text.strip(), "empty reply"
    assert not control_chars(text), f"raw control characters in {text!r}"
    echo = printable(query.strip())
    scrubbed = text.replace(echo, "") if echo else text
    assert not REPR_LEAK.search(scrubbed), f"repr/traceback in reply: {text!r}"
    says_why = ("입력" in text and ("너무 깁니다" in text or "입력해 주세요" in text or "입력하세요" in text))
    assert says_why or (echo and echo in text) or TICKER_MENTION.search(text), f"reply does not say what: {text!r}"


# ==== /analyze through the service layer the bot uses =====================================================

@dataclass
class Sent:
    kind: str  # "text" or "photo"
    html: str  # as sent (HTML-escaped)
    codes: list[str]  # the inline keyboard's ticker codes


class RecordingBot:
    """Just enough of ``telegram.Bot`` for :class:`~kstock.bot.delivery.Delivery`, with Telegram's own checks
    (non-empty, valid HTML, 4,096 visible characters; captions 1,024)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    @staticmethod
    def _codes(markup) -> list[str]:
        if markup is None:
            return []
        return [b.callback_data.removeprefix("a:") for row in markup.inline_keyboard for b in row
                if b.callback_data.startswith("a:")]

    async def send_chat_action(self, chat_id, action, **_: object):
        return True

    async def send_message(self, chat_id, text, parse_mode=None, reply_markup=None, **_: object):
        assert text and text.strip(), "Telegram refuses an empty message"
        check_entities(text, parse_mode)
        assert visible_length(text, parse_mode) <= 4096
        self.sent.append(Sent("text", text, self._codes(reply_markup)))
        return SimpleNamespace(message_id=len(self.sent), photo=None)

    async def send_photo(self, chat_id, photo, caption=None, parse_mode=None, reply_markup=None, **_: object):
        if caption:
            check_entities(caption, parse_mode)
            assert visible_length(caption, parse_mode) <= 1024
        self.sent.append(Sent("photo", caption or "", self._codes(reply_markup)))
        return SimpleNamespace(message_id=len(self.sent), photo=[SimpleNamespace(file_id="chart")])


class UploadedCharts:
    """Pictures are the chart tests' business: here every chart counts as uploaded already."""

    def file_id(self, analysis: Analysis) -> str:
        return "chart"

    def remember_file_id(self, analysis: Analysis, file_id: str) -> None:
        pass

    def close(self) -> None:
        pass


class Quiet:
    """A fixture value with a one-line repr: Hypothesis prints every argument of a failing example, and a
    whole bot runtime or ticker list would bury the query that failed."""

    def __init__(self, label: str, **values: object) -> None:
        self._label = label
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"<{self._label}>"


@pytest.fixture(scope="module")
def analyze_env(synth_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quiet]:
    """A bot runtime over a private copy of the trained synthetic market (plus two letter-code tickers)."""
    root = copy_workspace(synth_golden, tmp_path_factory.mktemp("bad-analyze"))
    store = MarketStore(root / "s.db")
    store.ingest(MarketData(LETTER_CODE_TICKERS, pd.DataFrame(), {}), source="test")
    services = Services(synth_settings(root).with_overrides(analyze_per_minute=1_000_000), store)
    services.model_data()
    rt = BotRuntime.create(services.settings, services, chart_workers=0)
    rt.charts = UploadedCharts()
    yield Quiet("bot runtime over the synthetic market", rt=rt)
    rt.close()
    services.close()


def converse(env: Quiet, query: str) -> tuple[Analysis | None, list[Sent]]:
    bot = RecordingBot()
    result = asyncio.run(answer_analysis(env.rt, bot, 4242, 4242, query))
    return result, bot.sent


@settings(max_examples=150, **FUZZ)
@given(query=queries)
@example(query="0030R0")  # letter codes were read as names: "no stock matches"
@example(query="\x1b[2J\x1b[31m삼성")  # the echo carried terminal escapes / line breaks
@example(query="삼성\n전자x")
def test_analyze_replies_are_an_analysis_or_one_clear_message(analyze_env: Quiet, query: str) -> None:
    result, sent = converse(analyze_env, query)
    texts = [s for s in sent if s.kind == "text"]
    assert texts, f"no reply to {query!r}"
    plain = html.unescape(texts[0].html)
    codes = {t.code for t in analyze_env.rt.services.store.tickers()}
    if result is not None:
        assert [s.kind for s in sent] == ["text", "photo"]
        assert "판단:" in plain and DISCLAIMER in plain and f"({result.ticker.code})" in plain
        assert result.ticker.kind == InstrumentKind.COMMON
        assert not control_chars(plain) and not REPR_LEAK.search(plain.replace(result.ticker.name, "")), plain
        return
    assert len(sent) == 1, f"an error is one message: {sent}"
    assert_clear_message(plain, query)
    q = query.strip()
    if not q:
        assert plain == messages.ANALYZE_USAGE
    elif len(q) > MAX_QUERY_CHARS:
        assert "너무 깁니다" in plain
    assert set(texts[0].codes) <= codes, "buttons must offer stored tickers"
    if "여러 개" in plain:
        assert len(texts[0].codes) >= 2


def test_every_listed_ticker_answers_by_code_and_by_name(analyze_env: Quiet) -> None:
    """The oracle for the fuzz above: a stored ticker's code or name never gets 'no such stock'."""
    for t in analyze_env.rt.services.store.tickers():
        for query in (t.code, t.code.lower(), f" {t.name} "):
            result, sent = converse(analyze_env, query)
            plain = html.unescape(sent[0].html)
            assert result is not None or f"({t.code})" in plain, (query, plain)
            assert result is None or result.ticker.code == t.code


# ==== /analyze through the real bot stack (a few of the nastiest, not fuzzed: each is a round trip) ======

@pytest.fixture(scope="module")
def bot_env(synth_golden: Path, tmp_path_factory: pytest.TempPathFactory):
    from support.bot_env import BotEnv
    from support.fake_telegram import FakeTelegramServer

    root = copy_workspace(synth_golden, tmp_path_factory.mktemp("bad-bot"))
    with FakeTelegramServer(require_png=True) as tg, \
            BotEnv(tg, root, overrides={"analyze_per_minute": 1000}, runtime_options={"warm_up_on_start": True}) as env:
        assert env.runtime.warmed.wait(60)
        yield env


BOT_NASTIES = [
    "/analyze", "/analyze    ", "/analyze \x00", "/analyze \x1b[2J\x1b[31m삼성전자", "/analyze \u202e자전성삼",
    "/analyze '; DROP TABLE tickers; --", "/analyze <b>삼성</b> & <i>", "/analyze %_%", "/analyze " + "😀" * 30,
    "/analyze " + "가" * 4000, "/analyze 0059300", "/analyze 5930", "/analyze 삼송전자", "/analyze 삼성",
    "/analyze KODEX 200", "/analyze 삼성\n전자", "삼성전자\u200b", "<script>", "%",
]


@pytest.mark.parametrize("text", BOT_NASTIES)
def test_bot_answers_nasty_analyze_input_clearly(bot_env, text: str, caplog: pytest.LogCaptureFixture) -> None:
    chat = 50_000 + BOT_NASTIES.index(text)
    reply = bot_env.ask(chat, text)  # the fake server has refused anything Telegram would refuse
    plain = html.unescape(reply.text)
    query = text.removeprefix("/analyze")
    assert plain != messages.INTERNAL_ERROR
    assert_clear_message(plain, query)
    # candidates ("a:CODE") on a lookup reply; refresh / watch on an analysis
    assert all(code.split(":")[0] in {"a", "rf", "w"} for _, code in reply.buttons)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# ==== lookup: TickerIndex and `kstock lookup` ============================================================

@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic market (25 tickers, half a year) plus two letter-code tickers; copy before writing."""
    db = tmp_path_factory.mktemp("bad-small") / "small.db"
    store = MarketStore(db)
    store.ingest(generate_market(n_tickers=25, years=0.5, seed=3), source="synthetic")
    store.ingest(MarketData(LETTER_CODE_TICKERS, pd.DataFrame(), {}), source="test")
    store.close()
    return db


@pytest.fixture(scope="module")
def lookup_index(small_db: Path) -> Quiet:
    store = MarketStore(small_db)
    tickers = store.tickers()
    popularity = recent_traded_value(store)  # ties go by 20-day traded value, as in the CLI and the bot
    store.close()
    return Quiet(f"index of {len(tickers)} tickers", index=TickerIndex(tickers), tickers=tickers,
                 popularity=popularity)


@pytest.fixture(autouse=True)
def _clean_env(clean_env: None) -> None:
    """No .env or KSTOCK_* from the developer's shell reaches the in-process CLI (conftest.clean_env)."""


@settings(max_examples=300, **FUZZ)
@given(query=queries)
@example(query="0030R0")
@example(query="\x1b]0;pwned\x07삼성")
def test_lookup_finds_tickers_or_says_why(lookup_index, query: str) -> None:
    index, tickers = lookup_index.index, lookup_index.tickers
    r = index.resolve(query)
    assert [r.match is not None, bool(r.candidates), r.error is not None].count(True) == 1, r
    if r.match is not None:
        assert r.match in tickers
    if r.candidates:
        assert 2 <= len(r.candidates) <= MAX_CANDIDATES and all(t in tickers for t in r.candidates)
        assert len({t.code for t in r.candidates}) == len(r.candidates)
    assert len(r.suggestions) <= MAX_SUGGESTIONS and all(t in tickers for t in r.suggestions)
    if r.error is not None:
        assert "\n" not in r.error
        assert_clear_message(r.error, query)
        if r.suggestions:
            assert "혹시" in r.error and all(t.name in r.error for t in r.suggestions)


def full_width(text: str) -> str:
    """What a Korean IME in full-width mode types: ０-９, Ａ-Ｚ, ａ-ｚ and friends."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


SPELLINGS = {"as stored": lambda s: s, "lower case": str.lower, "full width": full_width,
             "decomposed (NFD, as macOS pastes)": lambda s: unicodedata.normalize("NFD", s)}


@settings(max_examples=100, **FUZZ)
@given(pick=st.integers(0, 1000), english=st.booleans(), spelling=st.sampled_from(sorted(SPELLINGS)),
       lead=st.text(" \t\u3000", max_size=2), trail=st.text(" \t\n", max_size=2))
@example(pick=0, english=False, spelling="decomposed (NFD, as macOS pastes)", lead="", trail="")  # was unknown
@example(pick=0, english=False, spelling="full width", lead="", trail="")  # ００５９３０ was unknown too
def test_lookup_finds_every_stored_ticker_by_code_and_name(lookup_index, pick: int, english: bool, spelling: str,
                                                           lead: str, trail: str) -> None:
    index, tickers = lookup_index.index, lookup_index.tickers
    spell = SPELLINGS[spelling]
    t = tickers[pick % len(tickers)]
    assert index.resolve(lead + spell(t.code) + trail).match == t
    name = t.name_en if english and t.name_en else t.name
    by_name = index.resolve(lead + spell(name) + trail)
    assert by_name.match is not None and by_name.match.name in {x.name for x in tickers}, by_name.error


@settings(max_examples=80, **FUZZ)
@given(query=queries, as_json=st.booleans(), dashdash=st.booleans())
@example(query="-x", as_json=False, dashdash=False)
@example(query="1", as_json=True, dashdash=False)  # candidates tie: traded value decides, as in the CLI
@example(query="", as_json=False, dashdash=True)
def test_lookup_cli_prints_tickers_or_one_error_line(small_db: Path, lookup_index, capsys, query: str,
                                                    as_json: bool, dashdash: bool) -> None:
    index = lookup_index.index
    argv = ["lookup", "--db", str(small_db), *(["--json"] if as_json else []), *(["--"] if dashdash else []), query]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse: `kstock lookup -x` is an unknown option (use `--`); -h is help
        out, err = capsys.readouterr()
        assert not dashdash and query.startswith("-") and exc.code in (0, 2), (query, exc.code)
        assert any(w in out + err for w in ("usage: kstock", "사용법: kstock", "사용법은 `kstock"))
        return
    out, err = capsys.readouterr()
    expected = index.resolve(query, lookup_index.popularity)
    rows = [expected.match] if expected.match else expected.candidates
    assert rc == (0 if rows else 1)
    assert "Traceback" not in (out + err).replace(query, "")  # the query itself is echoed back
    if as_json:
        payload = json.loads(out)
        assert payload["error"] == expected.error and payload["query"] == query
        listed = [payload["match"]] if payload["match"] else payload["candidates"]
        assert [row["code"] for row in listed] == [t.code for t in rows]
        return
    assert [line.split()[0] for line in out.splitlines()] == [t.code for t in rows]
    if rows:
        assert err == ""
    else:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kstock: 오류: "), err
        assert_clear_message(lines[0], query)


# ==== CSV imports ===========================================================================================

BAD_CODE, GOOD_CODE = "000660", "900001"  # the bad file overwrites a stored ticker's name; the good one is new
HEADERS = {"pykrx": ["날짜", "시가", "고가", "저가", "종가", "거래량", "등락률"],
           "fdr": ["Date", "Open", "High", "Low", "Close", "Volume", "Change"]}
FIELDS = ["날짜", "시가", "고가", "저가", "종가", "거래량"]  # the first six columns as the reasons name them


@dataclass
class CsvCase:
    content: bytes
    expect: str  # regex the reason must match
    why: str


def to_csv(header: list[str], rows: list[list[str]], bom: bool = False, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode(encoding)


def price_rows(start: date, n: int, base: int) -> list[list[str]]:
    """``n`` KRX sessions from ``start`` on (weekends and KRX holidays skipped: the row rule refuses them)."""
    rows, day = [], start
    for i in range(n):
        while day.weekday() >= 5 or is_krx_holiday(day):
            day += timedelta(days=1)
        close = base + 10 * i
        rows.append([day.isoformat(), str(close), str(close + 5), str(close - 5), str(close), str(1000 + i), "0.0"])
        day += timedelta(days=1)
    return rows


@st.composite
def good_table(draw: st.DrawFn) -> tuple[str, list[str], list[list[str]]]:
    dialect = draw(st.sampled_from(sorted(HEADERS)))
    start = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)))
    rows = price_rows(start, draw(st.integers(2, 6)), draw(st.integers(100, 5_000_000)))
    return dialect, list(HEADERS[dialect]), rows


def _is_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text.replace(",", "").strip())))
    except ValueError:
        return False


not_a_number = st.one_of(
    st.sampled_from(["", " ", "abc", "N/A", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e999",
                     "True", "false", "12원", "1.2.3", "0x1F", "1e", "--1", "五", "∞", "None", "null", "#DIV/0!"]),
    st.text(max_size=8).map(lambda s: s if not _is_number(s) else s + "x"),
)


@st.composite
def bad_cases(draw: st.DrawFn) -> CsvCase:
    """A file that must be refused, with the reason it must give."""
    _, header, rows = draw(good_table())
    n = len(rows)
    r = draw(st.integers(0, n - 1))
    kind = draw(st.sampled_from(["header", "missing", "number", "negative", "zero_close", "high_low", "dup_date",
                                 "bad_date", "cp949", "empty", "random", "header_only"]))
    if kind == "header":
        names = draw(st.lists(st.text(max_size=8), min_size=1, max_size=8))
        seen = {n.strip().lstrip("\ufeff") for n in names}
        if any(set(h[:6]) <= seen for h in HEADERS.values()):
            names = ["x" + n for n in names]
        return CsvCase(to_csv(names, rows), r"형식의 열 .*없습니다|알 수 없는 CSV 형식|CSV로 읽을 수 없습니다", kind)
    if kind == "missing":
        drop = draw(st.sets(st.integers(0, 5), min_size=1))
        keep = [i for i in range(7) if i not in drop]
        content = to_csv([header[i] for i in keep], [[row[i] for i in keep] for row in rows])
        return CsvCase(content, "".join(rf"(?=.*{re.escape(header[i])})" for i in drop), kind)
    if kind == "number":
        col = draw(st.integers(1, 5))
        value = draw(not_a_number)
        whole_column = draw(st.booleans())
        for i, row in enumerate(rows):
            if whole_column or i == r:
                row[col] = value
        row_no = 2 if whole_column else r + 2
        shown = r"(칸이 비어 있습니다|.*은\(는\) 숫자가 아닙니다)"
        return CsvCase(to_csv(header, rows), rf"^{row_no}행 \(.*\): {FIELDS[col]} {shown}$", kind)
    if kind == "negative":
        col = draw(st.integers(1, 5))
        rows[r][col] = repr(-draw(st.floats(min_value=1e-3, max_value=1e12)))
        what = {1: "시가", 2: "고가", 3: "저가", 4: "종가", 5: "거래량"}[col]
        return CsvCase(to_csv(header, rows), rf"^{r + 2}행 \(\d{{4}}-\d\d-\d\d\): {what} -", kind)
    if kind == "zero_close":
        rows[r][4] = draw(st.sampled_from(["0", "0.0", "-0", "0,000", " 0"]))
        return CsvCase(to_csv(header, rows), rf"^{r + 2}행 \(.*\): 종가 -?0원은\(는\) 가격이 아닙니다", kind)
    if kind == "high_low":
        rows[r][2] = str(int(rows[r][3]) - draw(st.integers(1, 90)))
        return CsvCase(to_csv(header, rows), rf"^{r + 2}행 \(.*\): 고가 .* 저가 .*보다 낮습니다", kind)
    if kind == "dup_date":
        other = (r + draw(st.integers(1, n - 1))) % n
        rows[r][0] = rows[other][0]
        return CsvCase(to_csv(header, rows), rf"^\d+행 \({rows[other][0]}\): \d+행과 같은 날짜입니다", kind)
    if kind == "bad_date":
        rows[r][0] = draw(st.one_of(
            st.sampled_from(["", "tomorrow", "2024-13-01", "2024-02-30", "2024/99/99", "0000-00-00", "1900-01-01",
                             "2300-01-01", "99999999", "N/A", "nan", "-", "2024-01", "2024", "1e5", "True",
                             "20241301"]),
            st.text("qxzwk#!? ", min_size=1, max_size=6)))
        return CsvCase(to_csv(header, rows), rf"^{r + 2}행: 날짜 .*은\(는\) 1950~2199년의 날짜가 아닙니다", kind)
    if kind == "cp949":
        rows[r][6] = "상승"  # Excel on Korean Windows saves CP949: not even the FDR dialect is plain ASCII then
        return CsvCase(to_csv(header, rows, encoding="cp949"), r"UTF-8 텍스트가 아닙니다 .*CP949.*'CSV UTF-8'로 저장해",
                       kind)
    if kind == "empty":
        content = draw(st.sampled_from([b"", b"\n", b"\n\n  \n", "\ufeff".encode(), b" "]))
        return CsvCase(content, r"CSV로 읽을 수 없습니다|알 수 없는 CSV 형식|행이 없습니다", kind)
    if kind == "header_only":
        return CsvCase(to_csv(header, [], bom=draw(st.booleans())), r"머리글만 있고 행이 없습니다", kind)
    content = draw(st.binary(max_size=300))
    return CsvCase(content, r".", kind)


@pytest.fixture(scope="module")
def csv_db(small_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("bad-csv") / "csv.db"
    shutil.copy2(small_db, db)
    return db


def update_count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM data_updates").fetchone()[0]
    finally:
        conn.close()


def digest(db: Path, skip_code: str | None = None, with_log: bool = True) -> int:
    """A digest of every row of every table, in order (optionally without one code's rows, or without the
    update log). Python's tuple hash, not SHA: only compared within this process, and much cheaper."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        parts = []
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
            if not with_log and name in ("data_updates", "sqlite_sequence"):
                continue
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
            where, args = (" WHERE code != ?", (skip_code,)) if skip_code and "code" in cols else ("", ())
            rows = conn.execute(f"SELECT * FROM {name}{where} ORDER BY {', '.join(cols)}", args)
            parts.append((name, tuple(rows)))
        return hash(tuple(parts))
    finally:
        conn.close()


def stored_prices(db: Path, code: str, dates: list[int] | None = None) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT date, open, high, low, close, volume FROM prices WHERE code = ? ORDER BY date",
                            (code,)).fetchall()
        return rows if dates is None else [r for r in rows if r[0] in dates]
    finally:
        conn.close()


def expected_rows(rows: list[list[str]]) -> list[tuple]:
    return [(int(r[0].replace("-", "")), *(float(v) for v in r[1:6])) for r in rows]


def run_import(db: Path, files: dict[str, bytes], capsys) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            (Path(folder) / name).write_bytes(content)
        # the generated dates reach 2100: the future-date rule (tested in test_cli_data) is lifted here
        rc = main(["data", "import", folder, "--db", str(db), "--no-progress", "--until", "2199-12-31"])
    out, err = capsys.readouterr()
    return rc, out, err


@settings(max_examples=150, **FUZZ)
@given(case=bad_cases(), with_good=st.booleans(), good_base=st.integers(1_000, 900_000))
@example(case=CsvCase(to_csv(HEADERS["fdr"], [["2024-01-02", "True", "True", "True", "True", "True", "0"]]),
                      r"^2행 \(2024-01-02\): 시가 'True'은\(는\) 숫자가 아닙니다$", "bool"),
         with_good=True, good_base=5000)
@example(case=CsvCase(to_csv(HEADERS["pykrx"], [["1900-01-02", "10", "10", "10", "10", "1", "0"]]),
                      r"^2행: 날짜 '1900-01-02'은\(는\) 1950~2199년의 날짜가 아닙니다", "old"),
         with_good=False, good_base=5000)  # was "is not a date" for a date merely out of range
@example(case=CsvCase(to_csv(HEADERS["pykrx"], [["2024-01-02", "10", "10", "10", "10", "1", "0"],
                                                ["2024-02", "10", "10", "10", "10", "1", "0"]]),
                      r"^3행: 날짜 '2024-02'은\(는\) 1950~2199년의 날짜가", "month"),
         with_good=True, good_base=5000)  # was Feb 1st
@example(case=CsvCase(b"Date,Open,High,Low,Close,Volume,Change\n2000-01-01,\r,105,95,100,1000,0.0\n"
                      b"2000-01-02,110,115,105,110,1001,0.0\n", r"^2행 \(2000-01-01\): 시가 칸이 비어 있습니다$",
                      "bare CR"),
         with_good=False, good_base=1000)  # a stray CR splits the line: was "3행: 날짜 'nan'…"
@example(case=CsvCase(to_csv(HEADERS["pykrx"], price_rows(date(2024, 1, 2), 2, 900), encoding="cp949"),
                      r"UTF-8 텍스트가 아닙니다 .*CP949", "cp949"),
         with_good=False, good_base=5000)  # was the codec's own words
def test_a_rejected_csv_is_named_and_changes_nothing(csv_db: Path, capsys, case: CsvCase, with_good: bool,
                                                     good_base: int) -> None:
    files = {f"{BAD_CODE}.csv": case.content}
    good_rows = price_rows(date(2025, 1, 2), 3, good_base)
    if with_good:
        files[f"{GOOD_CODE}.csv"] = to_csv(HEADERS["fdr"], good_rows)
    skip = GOOD_CODE if with_good else None
    before = digest(csv_db, skip_code=skip, with_log=False)
    updates = update_count(csv_db)
    rc, out, err = run_import(csv_db, files, capsys)
    # everything but the good file's rows and the update log is as it was; the log grows by this import alone
    assert digest(csv_db, skip_code=skip, with_log=False) == before, "a rejected file changed the store"
    assert update_count(csv_db) == updates + with_good
    assert "Traceback" not in out + err
    if with_good:
        skipped = [line for line in err.splitlines() if line.startswith("건너뜀 ")]
        others = [line for line in err.splitlines() if not line.startswith(("건너뜀 ", "경고: "))]
        assert rc == 0 and not others and len(skipped) == 1, err
        name, _, reason = skipped[0].removeprefix("건너뜀 ").partition(": ")
        assert name == f"{BAD_CODE}.csv"
        assert stored_prices(csv_db, GOOD_CODE) == expected_rows(good_rows), "the good file did not land"
    else:
        lines = err.splitlines()
        assert rc == 1 and len(lines) == 1, err
        found = re.fullmatch(rf"kstock: 오류: .*에 쓸 수 있는 CSV가 없습니다: {BAD_CODE}\.csv: (.*); 파일을 고친 뒤 "
                             r"다시 시도하세요 \(아무것도 가져오지 않았습니다\)", lines[0])
        assert found, lines[0]
        reason = found[1]
    assert reason.strip() and len(reason) < 400
    assert re.search(case.expect, reason), f"{case.why}: unclear reason {reason!r}"


@settings(max_examples=60, **FUZZ)
@given(table=good_table(), bom=st.booleans(), crlf=st.booleans(), spaces=st.booleans(),
       time_suffix=st.sampled_from(["", "T00:00:00", " 00:00:00+09:00", "T09:00:00+09:00", " 15:30"]))
@example(table=("fdr", HEADERS["fdr"], price_rows(date(2024, 1, 2), 2, 7000)), bom=False, crlf=False,
         spaces=False, time_suffix=" 00:00:00+09:00")  # pandas' to_csv of a KST index: read as the day before
def test_well_formed_variants_land_exactly(csv_db: Path, capsys, table, bom: bool, crlf: bool, spaces: bool,
                                          time_suffix: str) -> None:
    """The positive control: BOM, CRLF, padding, thousands separators and a time of day change nothing."""
    _, header, rows = table
    shown = [[(" " if spaces else "") + (f"{int(v):,}" if spaces and j in (1, 4) else v)
              + (time_suffix if j == 0 else "") for j, v in enumerate(row)] for row in rows]
    content = to_csv(header, shown, bom=bom)
    if crlf:
        content = content.replace(b"\n", b"\r\n")
    rc, _, err = run_import(csv_db, {"123450.csv": content}, capsys)
    assert rc == 0 and "skipped" not in err, err
    expected = expected_rows(rows)
    assert stored_prices(csv_db, "123450", [r[0] for r in expected]) == expected


@settings(max_examples=40, **FUZZ)
@given(table=good_table(), tail=st.binary(min_size=1, max_size=40))
def test_garbage_after_good_rows_is_refused_or_stored_sanely(csv_db: Path, capsys, table, tail: bytes) -> None:
    """Whatever lands must obey the import's own rules; whatever is refused leaves the store as it was."""
    _, header, rows = table
    before = digest(csv_db)
    rc, _, err = run_import(csv_db, {f"{BAD_CODE}.csv": to_csv(header, rows) + tail}, capsys)
    assert "Traceback" not in err
    if rc != 0:
        assert err.startswith("kstock: 오류: ") and "쓸 수 있는 CSV가 없습니다" in err and f"{BAD_CODE}.csv: " in err
        assert digest(csv_db) == before
        return
    stored = np.array(stored_prices(csv_db, BAD_CODE), dtype=float)
    assert np.isfinite(stored[:, 4:]).all() and (stored[:, 4] > 0).all()
    assert ((stored[:, 2] >= stored[:, 3]) | (stored[:, 5] == 0)).all()
    assert ((stored[:, 0] >= 19500101) & (stored[:, 0] < 22000101)).all()


@pytest.mark.parametrize("stem", ["가나다라마바", "005930 (1)", "5930", "0059300", "²³⁴⁵⁶⁷", "abc"])
def test_a_file_not_named_by_a_code_is_refused(csv_db: Path, capsys, stem: str) -> None:
    before = digest(csv_db)
    rc, _, err = run_import(csv_db, {f"{stem}.csv": to_csv(HEADERS["fdr"], price_rows(date(2024, 1, 2), 2, 900))},
                            capsys)
    assert rc == 1 and f"{stem}.csv: 파일 이름은 여섯 글자 종목코드여야 합니다" in err, err
    assert digest(csv_db) == before


@pytest.mark.parametrize("value", ["1e20", "1e300", "9" * 25, "1.7976931348623157e308"])
def test_huge_but_finite_prices_are_refused(csv_db: Path, capsys, value: str) -> None:
    """A price of 1e20 is no price (issue 21): the file is refused with the row, nothing is stored."""
    before = digest(csv_db)
    rows = [["2024-01-02", value, value, value, value, "1", "0"]]
    rc, _, err = run_import(csv_db, {"777770.csv": to_csv(HEADERS["fdr"], rows)}, capsys)
    assert rc == 1 and "777770.csv: 2행 (2024-01-02): 종가 " in err and "가격이 아닙니다" in err, err
    assert stored_prices(csv_db, "777770") == [] and digest(csv_db) == before
