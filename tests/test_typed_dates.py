"""One strict parser for every date a person types (issue 21 §4): YYYY-MM-DD or YYYYMMDD (plus 오늘/어제 in
chat); an empty string, NaT, a bare year or an impossible date is refused in Korean, never read as
"everything" or as another day. `data prune` refuses a missing date and one before the store's first day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kstock.cli import main
from kstock.market.dates import DateInputError, parse_typed_date
from kstock.market.store import MarketStore
from support.stores import data_checksum, price_frame

REFUSED = {
    "": "날짜가 비어 있습니다",
    "   ": "날짜가 비어 있습니다",
    "NaT": "날짜로 읽을 수 없습니다",
    "2025": "날짜로 읽을 수 없습니다",  # numpy: 2025-01-01
    "2025-07": "날짜로 읽을 수 없습니다",
    "2025-7-10": "날짜로 읽을 수 없습니다",
    "2025/07/10": "날짜로 읽을 수 없습니다",
    "202507171": "날짜로 읽을 수 없습니다",  # numpy: the year 202507171
    "20250717x": "날짜로 읽을 수 없습니다",
    "someday": "날짜로 읽을 수 없습니다",
    "2025-02-30": "없는 날짜입니다",
    "20251301": "없는 날짜입니다",
    "00010101": "1950년부터 2199년 사이의 날짜만 받습니다",
    "오늘": "날짜로 읽을 수 없습니다",  # no today outside a chat
}


@pytest.mark.parametrize("typed", list(REFUSED))
def test_every_odd_date_is_refused_with_a_korean_reason(typed: str) -> None:
    with pytest.raises(DateInputError) as info:
        parse_typed_date(typed)
    assert REFUSED[typed] in str(info.value) and "YYYY-MM-DD" in str(info.value)


def test_the_two_forms_and_the_chat_words() -> None:
    day = dt.date(2025, 7, 10)
    assert parse_typed_date("2025-07-10") == parse_typed_date("20250710") == parse_typed_date(" 20250710 ") == day
    assert parse_typed_date("2024-02-29") == dt.date(2024, 2, 29)  # a leap day is a day
    monday = dt.date(2025, 7, 14)
    asked: list[str] = []

    def today() -> dt.date:
        asked.append("today")
        return monday

    assert parse_typed_date("2025-07-10", today=today) == day and asked == []  # the clock only for the words
    assert parse_typed_date("오늘", today=today) == monday
    assert parse_typed_date("어제", today=today) == dt.date(2025, 7, 13)
    assert parse_typed_date("어제", today=today, previous=lambda d: d - dt.timedelta(days=3)) == dt.date(2025, 7, 11)
    with pytest.raises(DateInputError, match="또는 오늘/어제"):
        parse_typed_date("그제", today=today)


# ---- the command line ----------------------------------------------------------------------------------

DATE_FLAGS = [
    ["score", "--date"], ["signals", "--date"], ["performance", "--since"], ["analyze", "005930", "--date"],
    ["evaluate", "--start"], ["evaluate", "--end"], ["tune", "trees", "--end"], ["data", "import", ".", "--until"],
    ["data", "update", "--end"], ["data", "prune", "--after"], ["validate", "sector", "--start"],
]


@pytest.mark.parametrize("flag", DATE_FLAGS, ids=[" ".join(f) for f in DATE_FLAGS])
@pytest.mark.parametrize("typed", ["", "NaT", "2025", "20250230"])
def test_every_date_flag_refuses_an_odd_date_before_any_work(flag: list[str], typed: str, tmp_path: Path,
                                                             clean_env: None, capsys) -> None:
    db = tmp_path / "never.db"
    with pytest.raises(SystemExit) as info:
        main([*flag, typed, "--db", str(db)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"`{flag[-1]}`: " in err and "YYYY-MM-DD 또는 YYYYMMDD" in err
    assert "Traceback" not in err and not db.exists()  # refused before the store was opened


@pytest.fixture
def store_db(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "s.db"
    monkeypatch.setenv("KSTOCK_DB", str(db))
    with MarketStore(db) as store:
        store.upsert_prices(price_frame("005930", "2024-01-02", 8))  # 2024-01-02 … 2024-01-11
    return db


@pytest.mark.parametrize("argv", [["--after", ""], ["--after", "", "--yes"], ["--after", "2025", "--yes"], ["--yes"]],
                         ids=["empty", "empty --yes", "bare year", "missing"])
def test_prune_refuses_a_missing_or_odd_date_and_keeps_everything(store_db: Path, argv: list[str], capsys) -> None:
    before = data_checksum(store_db)
    with pytest.raises(SystemExit) as info:
        main(["data", "prune", *argv])
    assert info.value.code == 2 and "--after" in capsys.readouterr().err
    assert data_checksum(store_db) == before


def test_prune_refuses_a_day_before_the_first_stored_day(store_db: Path, capsys) -> None:
    before = data_checksum(store_db)
    assert main(["data", "prune", "--after", "2023-12-29", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "저장소의 첫 거래일(2024-01-02)보다 앞선 날짜입니다" in err and err.count("\n") == 1
    assert data_checksum(store_db) == before


def test_prune_counts_first_and_takes_yyyymmdd(store_db: Path, capsys) -> None:
    before = data_checksum(store_db)
    assert main(["data", "prune", "--after", "20240109"]) == 1  # 01-10 and 01-11: counted, nothing removed
    assert "2024-01-09 이후 날짜의 가격 2행, 지수 0행이 있습니다" in capsys.readouterr().out
    assert data_checksum(store_db) == before
    assert main(["data", "prune", "--after", "20240109", "--yes"]) == 0
    assert "가격 2행, 지수 0행을 지웠습니다" in capsys.readouterr().out
    with MarketStore(store_db, readonly=True) as store:
        assert str(store.first_price_date()) == "2024-01-02" and str(store.last_price_date()) == "2024-01-09"
    assert main(["data", "prune", "--after", "2024-01-02"]) == 1  # the first day itself is allowed (counted)
    assert "가격 5행" in capsys.readouterr().out


def test_performance_since_takes_both_forms(store_db: Path, capsys) -> None:
    outputs = []
    for typed in ("20240103", "2024-01-03"):
        assert main(["performance", "--since", typed, "--json"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
