"""The shared date helpers: one UTC stamp format for stored rows, one day lookup with Korean errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from kstock.errors import KstockError
from kstock.market.dates import stored_day_index, utc_stamp
from kstock.market.freshness import SEOUL
from kstock.service.korean import kst

DATES = np.array(["2025-10-01", "2025-10-02", "2025-10-10"], dtype="datetime64[D]")


class OwnError(KstockError):
    pass


def test_utc_stamp_is_iso_utc_to_the_second() -> None:
    stamp = dt.datetime.fromisoformat(utc_stamp())
    assert stamp.utcoffset() == dt.timedelta(0) and stamp.microsecond == 0
    assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 5


def test_stored_day_index_finds_a_trading_day_and_says_why_not_in_korean() -> None:
    assert stored_day_index(DATES, "2025-10-10") == 2
    with pytest.raises(KstockError, match="날짜 '10/10'를 읽을 수 없습니다"):
        stored_day_index(DATES, "10/10")
    with pytest.raises(OwnError, match=r"2025-10-03: 저장된 거래일이 아닙니다 \(데이터 2025-10-01 ~ 2025-10-10\)"):
        stored_day_index(DATES, "2025-10-03", OwnError)  # the caller's error kind
    with pytest.raises(KstockError, match="저장된 거래일이 아닙니다"):
        stored_day_index(DATES, "2025-10-11")  # after the last stored day


def test_one_seoul_zone_for_chat_times() -> None:
    assert dt.datetime(2025, 10, 1, tzinfo=SEOUL).utcoffset() == dt.timedelta(hours=9)
    assert kst("2025-10-01T15:00:00+00:00") == "2025-10-02 00:00"
