"""The online source: incremental daily updates from pykrx, all-or-nothing, honest about stale data.

pykrx talks to two sites. The listing and the index series come from data.krx.co.kr, which since
2025-12-27 answers only a logged-in session (pykrx ≥ 1.2.9 logs in with ``KRX_ID``/``KRX_PW`` *at
import time* and prints what it did, login id included). Adjusted daily OHLCV comes from Naver and
needs no login. With no network every call raises ``requests.exceptions.ConnectionError``; a KRX
that refuses an anonymous session answers ``LOGOUT`` instead of JSON, which surfaces as a
``JSONDecodeError``. So pykrx is imported lazily (``import kstock`` must never touch the network or
print), calls are throttled and retried with exponential backoff, everything fetched is written in
one store transaction at the end, and a failure leaves the store exactly as it was and says how old
the data being served is (DESIGN §2).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from kstock.config import Settings
from kstock.market.calendar import TradingCalendar
from kstock.market.dates import day_int, iso
from kstock.market.fetching import PoliteCaller, SourceError, SourceRefused, SourceUnreachable
from kstock.market.freshness import as_date, data_age, describe_age, last_final_day
from kstock.market.pykrx_frames import (
    INDEX_COLUMNS,
    OHLCV_COLUMNS,
    has_new_days,
    krx_day,
    long_frame,
    readjusted,
)
from kstock.market.row_checks import find_bad_rows, index_columns, split_bad_rows
from kstock.market.sectors import assign_sector
from kstock.market.store import MarketStore
from kstock.market.store_reads import StoredRange, index_last_day, price_range
from kstock.market.types import InstrumentKind, MarketData, Ticker, UpdateReport
from kstock.market.universe import classify_instrument

__all__ = ["PykrxSource", "SourceError", "UpdateReport", "data_age", "describe_age"]

logger = logging.getLogger(__name__)

SOURCE = "pykrx"
MARKETS = ("KOSPI", "KOSDAQ")
#: KRX index codes pykrx's ``get_index_ohlcv`` takes, by the name the store files them under.
INDEX_CODES = {"KOSPI": "1001", "KOSDAQ": "2001"}
#: How far back from ``end`` to look for a day with a KRX listing (weekends, holidays, Chuseok).
LISTING_LOOKBACK_DAYS = 10
_FETCHED_KINDS = (InstrumentKind.COMMON, InstrumentKind.PREFERRED)


@dataclass
class _Batch:
    data: MarketData
    industries: dict[str, str]
    tickers_updated: int
    warnings: list[str]


# -- the source -------------------------------------------------------------------------------------
def _import_pykrx_stock() -> Any:
    """Import ``pykrx.stock`` (logs in to KRX when KRX_ID/KRX_PW are set; may raise ConnectionError)."""
    from pykrx import stock

    return stock


class PykrxSource:
    """Incremental pykrx updates into a :class:`MarketStore`.

    ``client`` is anything with pykrx ``stock``'s function names (tests pass a fake); by default the
    real module is imported on first use, after ``settings``' KRX_ID/KRX_PW are put in the
    environment, with its prints (which show the login id) captured instead of shown.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        settings: Settings | None = None,
        min_interval: float = 0.5,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._secrets = tuple(s for s in (settings.krx_id, settings.krx_pw) if s) if settings else ()
        self.caller = PoliteCaller(min_interval=min_interval, retries=retries, backoff=backoff, sleep=sleep,
                                   clock=clock)
        self._login_state = "unknown"  # unknown / missing / failed / ok, from pykrx's import-time login

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PykrxSource:
        """The real pykrx client, logging in with ``settings``' KRX_ID/KRX_PW when they are set."""
        return cls(None, settings=settings, **kwargs)

    # -- client and calls -----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._load_client()
        return self._client

    def _load_client(self) -> Any:
        """Import pykrx with the credentials in the environment, its prints (login id!) captured."""
        if self._settings is not None and self._settings.krx_id and self._settings.krx_pw:
            os.environ["KRX_ID"] = self._settings.krx_id
            os.environ["KRX_PW"] = self._settings.krx_pw
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            client = self.caller.call("import pykrx", _import_pykrx_stock)
        text = printed.getvalue()
        if "설정되지 않았습니다" in text:
            self._login_state = "missing"
        elif "로그인 실패" in text:
            self._login_state = "failed"
        elif "로그인 완료" in text:
            self._login_state = "ok"
        logger.info("pykrx loaded (KRX login: %s)", self._login_state)
        return client

    def _call(self, name: str, *args: Any, cached: bool = False, **kwargs: Any) -> Any:
        """One pykrx call, throttled (unless ``cached``) and retried, its prints kept off the console.

        pykrx prints re-login notices that include the login id; they are dropped, never logged.
        """
        fn = getattr(self.client, name)

        def quiet(*a: Any, **kw: Any) -> Any:
            with contextlib.redirect_stdout(io.StringIO()):
                return fn(*a, **kw)

        run = self.caller.call_cached if cached else self.caller.call
        return run(name, quiet, *args, **kwargs)

    # -- the update -----------------------------------------------------------------------------
    def update(
        self,
        store: MarketStore,
        *,
        codes: Sequence[str] | None = None,
        end: str | dt.date | None = None,
        start_default: str = "2020-01-01",
        progress: bool = True,
    ) -> UpdateReport:
        """Fetch what the store lacks up to ``end`` and write it in one transaction.

        Source failures (network, KRX login, odd answers) never raise: the store is left untouched,
        the failure is logged in ``data_updates`` and the report says how old the served data is.
        Store failures (locked, disk full) raise :class:`~kstock.market.store.StoreError`.
        """
        end_day = as_date(end) if end is not None else last_final_day()
        try:
            batch = self._collect(store, codes, end_day, as_date(start_default), progress)
        except SourceRefused:
            return self._fail(store, self._login_message())
        except SourceUnreachable as exc:
            hint = ("; KRX_ID/KRX_PW도 설정되지 않았습니다 (KRX는 로그인이 필요합니다)"
                    if self._login_state == "missing" else "")
            return self._fail(store, f"KRX에 연결할 수 없습니다 ({exc.reason}){hint}")
        except Exception as exc:  # any other source fault must also leave the store as it was
            logger.exception("pykrx update failed")
            return self._fail(store, f"pykrx 오류 ({type(exc).__name__}: {str(exc)[:200]})")
        changed = store.ingest(batch.data, source=SOURCE, industries=batch.industries)
        last, age = data_age(store)
        message = (
            f"pykrx: {batch.tickers_updated}종목 갱신, 바뀐 행 {changed:,}개; 데이터 {describe_age(store)}"
        )
        if batch.warnings:
            message += f" (경고 {len(batch.warnings)}건)"
        logger.info(message)
        return UpdateReport(True, batch.tickers_updated, changed, message, last, age, batch.warnings)

    def _fail(self, store: MarketStore, reason: str) -> UpdateReport:
        last, age = data_age(store)
        fallback = (f"저장된 데이터로 계속 제공합니다: {describe_age(store)}" if last
                    else "대신 쓸 저장된 시장 데이터도 없습니다")
        message = self._redact(f"{reason}; {fallback}")
        logger.warning(message)
        store.log_update(SOURCE, 0, "failed", message)
        return UpdateReport(False, 0, 0, message, last, age)

    def _login_message(self) -> str:
        state = self._login_state
        if state == "unknown" and not (os.environ.get("KRX_ID") and os.environ.get("KRX_PW")):
            state = "missing"
        if state == "missing":
            return ("KRX 로그인이 필요합니다: data.krx.co.kr now serves only logged-in sessions; set KRX_ID and "
                    "KRX_PW (your data.krx.co.kr account) in .env or the environment and retry")
        if state == "failed":
            return "KRX 로그인 실패: KRX rejected the KRX_ID/KRX_PW login; check them at data.krx.co.kr and retry"
        return ("KRX가 데이터를 주지 않았습니다: KRX answered without data (session not logged in?); "
                "check KRX_ID/KRX_PW and retry")

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _collect(
        self, store: MarketStore, codes: Sequence[str] | None, end: dt.date, start: dt.date, progress: bool
    ) -> _Batch:
        warnings: list[str] = []
        day, listing = self._find_listing(end)
        tickers, industries = self._universe(store, day, listing)
        if codes is not None:
            wanted = set(codes)
            missing = sorted(wanted - {t.code for t in tickers})
            if missing:
                warnings.append(f"not listed on {day}: {', '.join(missing[:10])}")
            tickers = [t for t in tickers if t.code in wanted]
        indices = self._fetch_indices(store, start, day, warnings)
        prices, updated = self._fetch_all_prices(store, tickers, start, day, progress, warnings)
        industries = {t.code: industries[t.code] for t in tickers if t.code in industries}
        return _Batch(MarketData(tickers=tickers, prices=prices, indices=indices), industries, updated, warnings)

    # -- universe -------------------------------------------------------------------------------
    def _find_listing(self, end: dt.date) -> tuple[dt.date, dict[str, str]]:
        """The last trading day ≤ ``end`` that KRX lists stocks for, and its code → market map."""
        rule = TradingCalendar(np.empty(0, dtype="datetime64[D]"))
        for back in range(LISTING_LOOKBACK_DAYS + 1):
            day = end - dt.timedelta(days=back)
            if not rule.is_trading_day(day):
                continue
            listing = {str(c): m for m in MARKETS for c in self._listed(day, m)}
            if listing:
                return day, listing
        raise SourceRefused(f"KRX listed no stocks in the {LISTING_LOOKBACK_DAYS} days up to {end}")

    def _listed(self, day: dt.date, market: str) -> list[str]:
        try:
            return list(self._call("get_market_ticker_list", krx_day(day), market=market))
        except KeyError:  # pykrx's way of saying KRX sent an empty table for that day
            return []

    def _universe(
        self, store: MarketStore, day: dt.date, listing: dict[str, str]
    ) -> tuple[list[Ticker], dict[str, str]]:
        """Tickers for every listed code: stored fields kept (sector id, listing date), name and kind fresh."""
        names: dict[str, str] = {}
        industries: dict[str, str] = {}
        for market in MARKETS:
            market_names, market_industries = self._classifications(day, market)
            names.update(market_names)
            industries.update(market_industries)
        stored = {t.code: t for t in store.tickers()}
        for code in listing:
            if code not in names:
                names[code] = stored[code].name if code in stored else self._name(code)
        listed_names = frozenset(names.values())
        tickers = []
        for code, market in sorted(listing.items()):
            name = names[code]
            kind = classify_instrument(code, name, market, {"listed_names": listed_names})
            old = stored.get(code)
            if old is not None:
                sector = old.sector_id if old.sector_id is not None else assign_sector(industries.get(code))
                # a fund recognised at import by its KSIC industry stays one: the listing has names only
                kind = old.kind if old.kind == InstrumentKind.FUND and kind == InstrumentKind.COMMON else kind
                tickers.append(replace(old, name=name, market=market, kind=kind, sector_id=sector))
            else:
                tickers.append(Ticker(code, name, market, kind, assign_sector(industries.get(code))))
        return tickers, industries

    def _classifications(self, day: dt.date, market: str) -> tuple[dict[str, str], dict[str, str]]:
        """Names and KRX 업종명 of a whole market in one call; best effort (empty when KRX has none)."""
        if not hasattr(self.client, "get_market_sector_classifications"):
            return {}, {}
        try:
            frame = self._call("get_market_sector_classifications", krx_day(day), market)
        except (KeyError, ValueError, TypeError) as exc:
            logger.info("no 업종 classification for %s on %s (%s)", market, day, type(exc).__name__)
            return {}, {}
        if frame is None or len(frame) == 0:
            return {}, {}
        codes = [str(c) for c in frame.index]
        names = dict(zip(codes, frame["종목명"].astype(str), strict=True)) if "종목명" in frame else {}
        industries = dict(zip(codes, frame["업종명"].astype(str), strict=True)) if "업종명" in frame else {}
        return names, industries

    def _name(self, code: str) -> str:
        name = self._call("get_market_ticker_name", code, cached=True)  # one download, then pykrx's cache
        return name.strip() if isinstance(name, str) and name.strip() else code  # pykrx gives a frame if unknown

    # -- prices and indices ---------------------------------------------------------------------
    def _fetch_indices(
        self, store: MarketStore, start: dt.date, end: dt.date, warnings: list[str]
    ) -> dict[str, pd.DataFrame]:
        out = {}
        for name, krx_code in INDEX_CODES.items():
            last = index_last_day(store, name)
            first = as_date(iso(last)) + dt.timedelta(days=1) if last is not None else start
            if first > end:
                continue
            raw = self._call("get_index_ohlcv", krx_day(first), krx_day(end), krx_code, name_display=False)
            frame = _sane_index(name, long_frame(raw, INDEX_COLUMNS, first, end), warnings)
            if frame.empty:
                warnings.append(f"{name} index: KRX returned no rows for {first}..{end}")
            else:
                out[name] = frame
        return out

    def _fetch_all_prices(
        self,
        store: MarketStore,
        tickers: list[Ticker],
        start: dt.date,
        end: dt.date,
        progress: bool,
        warnings: list[str],
    ) -> tuple[pd.DataFrame, int]:
        from tqdm import tqdm

        todo = [t.code for t in tickers if t.kind in _FETCHED_KINDS]
        frames, updated = [], 0
        for code in tqdm(todo, desc="pykrx", unit="종목", disable=not progress, leave=False):
            stored = price_range(store, code)
            if (stored.last if stored is not None else day_int(start) - 1) >= day_int(end):
                continue  # up to date: no call at all
            try:
                frame = _sane_rows(code, self._fetch_prices(code, stored, start, end, warnings), warnings)
            except (KeyError, ValueError, TypeError) as exc:  # one odd answer must not sink the market
                warnings.append(f"{code}: skipped ({type(exc).__name__}: {str(exc)[:100]})")
                continue
            if not frame.empty:
                frames.append(frame)
            updated += has_new_days(frame, stored)
        columns = ["code", "date", *(OHLCV_COLUMNS.values())]
        prices = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        return prices, updated

    def _fetch_prices(
        self, code: str, stored: StoredRange | None, start: dt.date, end: dt.date, warnings: list[str]
    ) -> pd.DataFrame:
        """New days of one code, starting *at* the last stored day so a re-adjusted history shows."""
        first = as_date(iso(stored.last)) if stored is not None else start
        frame = self._ohlcv(code, first, end)
        if stored is not None and readjusted(frame, stored):
            refetch_from = min(start, as_date(iso(stored.first)))
            warnings.append(f"{code}: adjusted history changed (split, capital change); refetched from {refetch_from}")
            frame = self._ohlcv(code, refetch_from, end)
        return frame

    def _ohlcv(self, code: str, first: dt.date, end: dt.date) -> pd.DataFrame:
        raw = self._call("get_market_ohlcv", krx_day(first), krx_day(end), code, adjusted=True)
        frame = long_frame(raw, OHLCV_COLUMNS, first, end)
        frame.insert(0, "code", code)
        return frame


def _sane_rows(code: str, frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """The rows of one code that pass the market's row rule; the others are logged and never stored (a
    price of 1e20 or a Saturday from the source is a fault there, not a day here)."""
    good, _bad_rows, bad = split_bad_rows(frame)
    if len(bad):
        pos, reason = bad.first()
        message = (f"{code}: 잘못된 행 {len(bad)}개를 저장하지 않았습니다 "
                   f"(첫 행 {pd.Timestamp(frame['date'].iloc[pos]).date()}: {reason})")
        logger.warning(message)
        warnings.append(message)
    return good


def _sane_index(name: str, frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """The index rows that pass the row rule (a session, a level that is a price); the others are logged."""
    bad = find_bad_rows(index_columns(frame["date"].to_numpy(), frame["close"].to_numpy()))
    if not len(bad):
        return frame
    pos, reason = bad.first()
    message = (f"{name} index: 잘못된 행 {len(bad)}개를 저장하지 않았습니다 "
               f"(첫 행 {frame['date'].iloc[pos].date()}: {reason})")
    logger.warning(message)
    warnings.append(message)
    return frame.drop(index=frame.index[bad.positions]).reset_index(drop=True)
