"""A fake of the pykrx ``stock`` functions kstock calls, a wrapper that makes chosen calls fail, and the KRX
logout error; shared by the pykrx source tests and the data fault suite. No network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import requests

from kstock.market.calendar import is_krx_holiday

LISTING = {
    "KOSPI": {"005930": ("삼성전자", "전기·전자"), "005935": ("삼성전자우", "전기·전자"),
              "000660": ("SK하이닉스", "전기·전자"), "330590": ("롯데리츠", "부동산")},
    "KOSDAQ": {"247540": ("에코프로비엠", "일반전기전자"), "455310": ("하나29호스팩", "금융")},
}
PRICED = ["000660", "005930", "005935", "247540"]  # common + preferred; the REIT and SPAC get no prices
#: KRX sessions (no weekend, no KRX holiday: 2025-06-03 election day and 06-06 Memorial Day are closed), as
#: pykrx serves them; a source answering with a holiday row is a fault the row rule drops.
DAYS = pd.DatetimeIndex([d for d in pd.bdate_range("2025-06-02", "2025-06-20") if not is_krx_holiday(d.date())])


def history_frame(base: float) -> pd.DataFrame:
    close = base + 10 * np.arange(len(DAYS))
    frame = pd.DataFrame(
        {"시가": close - 5, "고가": close + 10, "저가": close - 10, "종가": close,
         "거래량": 1000 + np.arange(len(DAYS)), "등락률": 0.1, "거래대금": close * 1000},
        index=pd.DatetimeIndex(DAYS, name="날짜"),
    )
    return frame.astype({"시가": "int64", "고가": "int64", "저가": "int64", "종가": "int64"})


class FakeKrx:
    """The pykrx ``stock`` functions kstock uses, answering from small in-memory frames."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.history = {code: history_frame(10_000 * (i + 1)) for i, code in enumerate(PRICED)}
        self.index = {"1001": history_frame(2_500)[["시가", "고가", "저가", "종가", "거래량"]],
                      "2001": history_frame(800)[["시가", "고가", "저가", "종가", "거래량"]]}
        self.closed: set[str] = set()  # days KRX lists nothing for

    def _log(self, name: str, *args: object) -> None:
        self.calls.append((name, args))

    def get_market_ticker_list(self, date: str, market: str = "KOSPI") -> list[str]:
        self._log("get_market_ticker_list", date, market)
        return [] if date in self.closed else list(LISTING[market])

    def get_market_ticker_name(self, ticker: str) -> str:
        self._log("get_market_ticker_name", ticker)
        return next(m[ticker][0] for m in LISTING.values() if ticker in m)

    def get_market_sector_classifications(self, date: str, market: str) -> pd.DataFrame:
        self._log("get_market_sector_classifications", date, market)
        rows = LISTING[market]
        return pd.DataFrame({"종목명": [v[0] for v in rows.values()], "업종명": [v[1] for v in rows.values()],
                             "종가": 1000}, index=pd.Index(list(rows), name="종목코드"))

    def get_market_ohlcv(self, fromdate: str, todate: str, ticker: str, adjusted: bool = True) -> pd.DataFrame:
        self._log("get_market_ohlcv", fromdate, todate, ticker)
        assert adjusted
        return self.history[ticker].loc[pd.Timestamp(fromdate):pd.Timestamp(todate)]

    def get_index_ohlcv(self, fromdate: str, todate: str, ticker: str, name_display: bool = True) -> pd.DataFrame:
        self._log("get_index_ohlcv", fromdate, todate, ticker)
        return self.index[ticker].loc[pd.Timestamp(fromdate):pd.Timestamp(todate)]

    def seen(self, name: str) -> list[tuple]:
        return [args for n, args in self.calls if n == name]


class Broken:
    """Wraps a fake; chosen functions raise ``error`` from their ``after``-th call on (counted from 1)."""

    def __init__(self, inner: FakeKrx, names: set[str] | None, error: Exception, after: int = 1,
                 times: int | None = None) -> None:
        self.inner, self.names, self.error, self.after, self.times, self.count = inner, names, error, after, times, 0

    def __getattr__(self, name: str):
        fn = getattr(self.inner, name)
        if self.names is not None and name not in self.names:
            return fn

        def wrapped(*args, **kwargs):
            self.count += 1
            failing = self.count >= self.after and (self.times is None or self.count < self.after + self.times)
            if failing:
                raise self.error
            return fn(*args, **kwargs)

        return wrapped


def logout_response() -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content = 400, b"LOGOUT"
    return resp


def logout() -> None:
    requests.Response.json(logout_response())


def catch(fn) -> Exception:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("expected an exception")
