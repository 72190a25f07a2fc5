"""A day is published only when it is complete (issue 21, DESIGN §2).

A trading day counts when the names with a row for it cover ``KSTOCK_MIN_COVERAGE`` of the active universe;
the store's last trading day is its last complete day. A partial drop folder (10 of 40 files carry the new
day) publishes nothing, `kstock daily` exits 1 naming the coverage, admins are told once, and every other
stock's analysis still works on the last complete day; one stray row a day ahead changes nothing; a drop
where every file carries the new day is scored and published (the positive control).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from kstock.market import completeness
from kstock.market.dates import iso
from kstock.market.freshness import SEOUL
from kstock.market.sources import _generated, synthetic_spec
from kstock.market.store import MarketStore
from kstock.market.types import InstrumentKind, Ticker
from support.stores import price_frame

NEW_DAY = "2025-07-01"  # the session after the golden store's last day (2025-06-30)
EVENING = dt.datetime(2025, 7, 1, 17, 0, tzinfo=SEOUL)


def small_store(path: Path, n: int = 40, days: int = 30) -> MarketStore:
    store = MarketStore(path)
    codes = [f"{100000 + 10 * i:06d}" for i in range(n)]
    store.upsert_tickers([Ticker(c, f"종목{i}", "KOSPI", InstrumentKind.COMMON) for i, c in enumerate(codes)])
    store.upsert_prices(pd.concat([price_frame(c, "2025-06-02", days) for c in codes], ignore_index=True))
    return store


def add_day(store: MarketStore, codes: list[str], day: str) -> None:
    frame = pd.concat([price_frame(c, day, 1, base=20_000) for c in codes], ignore_index=True)
    store.upsert_prices(frame)


# ---- the market layer ---------------------------------------------------------------------------------------

def test_a_partial_day_is_not_the_last_trading_day_and_its_coverage_is_named(tmp_path: Path) -> None:
    store = small_store(tmp_path / "s.db")
    last = store.last_price_date()
    codes = store.price_codes()
    add_day(store, codes[:10], "2025-07-14")
    assert store.last_price_date() == last  # not the day of the 10 rows
    cov = completeness.day_coverage(store, "2025-07-14")
    assert (cov.count, cov.expected, cov.complete) == (10, 40, False)
    assert set(cov.missing) == set(codes[10:])
    text = cov.describe({codes[10]: "종목10"})
    assert text.startswith("10/40종목 (25.0%, 기준 95%)") and "종목10(" + codes[10] + ")" in text and "외 25개" in text
    assert [c.day for c in completeness.incomplete_days(store)] == ["2025-07-14"]
    assert [c.day for c in completeness.trailing_incomplete(store)] == ["2025-07-14"]
    add_day(store, codes[10:], "2025-07-14")  # the rest of the folder arrives
    assert str(store.last_price_date()) == "2025-07-14"
    assert completeness.incomplete_days(store) == [] and completeness.trailing_incomplete(store) == []
    old = completeness.day_coverage(store, "2025-06-03")  # an old day: from the whole history
    assert (old.count, old.expected, old.complete) == (40, 40, True)
    assert completeness.day_coverage(store, "2025-07-13") is None  # a Sunday: nothing stored


def test_the_threshold_is_the_setting_and_delisted_names_are_not_expected(tmp_path: Path) -> None:
    store = small_store(tmp_path / "s.db", n=20)
    codes = store.price_codes()
    store.upsert_tickers([Ticker(codes[0], "상폐", "KOSPI", InstrumentKind.COMMON, delisting_date="2025-07-14")])
    add_day(store, codes[1:19], "2025-07-14")  # 18 of the 19 still listed: 94.7%
    cov = completeness.day_coverage(store, "2025-07-14")
    assert (cov.count, cov.expected, cov.missing) == (18, 19, (codes[19],))
    assert not cov.complete and str(store.last_price_date()) == "2025-07-11"
    store.min_coverage = 0.9  # what Services sets from KSTOCK_MIN_COVERAGE
    assert str(store.last_price_date()) == "2025-07-14"


def test_stray_rows_ahead_never_move_the_last_day(tmp_path: Path) -> None:
    store = small_store(tmp_path / "s.db")
    last = store.last_price_date()
    add_day(store, store.price_codes()[:1], "2025-07-14")
    add_day(store, store.price_codes()[1:2], "2099-01-02")  # a typo far ahead
    assert store.last_price_date() == last
    assert [(c.count, c.expected) for c in completeness.trailing_incomplete(store)] == [(1, 40), (1, 40)]


def test_the_setting_is_validated() -> None:
    from kstock.config import Settings, SettingsError

    assert Settings.from_env({}, dotenv=None).min_coverage == 0.95
    assert Settings.from_env({"KSTOCK_MIN_COVERAGE": "0.8"}, dotenv=None).min_coverage == 0.8
    for bad in ("0", "1.5", "-0.1", "nan", "95%"):
        with pytest.raises(SettingsError, match="KSTOCK_MIN_COVERAGE"):
            Settings.from_env({"KSTOCK_MIN_COVERAGE": bad}, dotenv=None)


# ---- the daily loop on a csv drop folder --------------------------------------------------------------------

def write_drop(store: MarketStore, folder: Path, with_new_day: int, new_day: str = NEW_DAY) -> list[str]:
    """One FDR csv per stored code holding its last stored row; the first ``with_new_day`` files also carry
    the generated next session's row. Returns the codes, in file order."""
    folder.mkdir(parents=True, exist_ok=True)
    generated = _generated(*synthetic_spec(store).generation).prices
    generated = generated[pd.to_datetime(generated["date"]) == pd.Timestamp(new_day)].set_index("code")
    codes = [c for c in store.price_codes() if c in generated.index]
    for i, code in enumerate(codes):
        row = store.conn.execute("SELECT date, open, high, low, close, volume FROM prices WHERE code = ? "
                                 "ORDER BY date DESC LIMIT 1", (code,)).fetchone()
        lines = ["Date,Open,High,Low,Close,Volume",
                 f"{iso(row[0])},{row[1] or 0},{row[2] or 0},{row[3] or 0},{row[4]},{int(row[5])}"]
        if i < with_new_day:
            g = generated.loc[code]
            lines.append(f"{new_day},{g['open']},{g['high']},{g['low']},{g['close']},{int(g['volume'])}")
        (folder / f"{code}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return codes


def other_stock(store: MarketStore, codes: list[str], last: int) -> str:
    """A common stock among ``codes`` (files without the new day) that traded on the last complete day."""
    common = {t.code for t in store.tickers(kinds=["common"])}
    traded = {r[0] for r in store.conn.execute("SELECT code FROM prices WHERE date = ? AND halted = 0", (last,))}
    return next(c for c in codes if c in common and c in traded)


@pytest.fixture
def csv_cli(cli, monkeypatch: pytest.MonkeyPatch):
    """The `cli` runner on the golden store with a csv drop folder as the source and the clock at NEW_DAY's evening."""
    monkeypatch.setenv("KSTOCK_DATA_SOURCE", "csv")
    monkeypatch.setenv("KSTOCK_CSV_DIR", str(cli.root / "drop"))
    monkeypatch.setattr("kstock.market.sources.seoul_now", lambda: EVENING)
    return cli


def _published(root: Path, day: str) -> int:
    with MarketStore(root / "s.db") as store:
        return store.conn.execute("SELECT COUNT(*) FROM publications WHERE date = ?",
                                  (int(day.replace("-", "")),)).fetchone()[0]


def test_a_partial_drop_folder_publishes_nothing_and_daily_exits_1_naming_the_coverage(csv_cli) -> None:
    with MarketStore(csv_cli.root / "s.db") as store:
        codes = write_drop(store, csv_cli.root / "drop", with_new_day=10)
        other = other_stock(store, codes[10:], 20250630)
    rc, out, err = csv_cli("daily")
    assert rc == 1, out + err
    assert f"{NEW_DAY} 데이터 불완전: 10/{len(codes)}종목 ({10 / len(codes):.1%}, 기준 95%)" in out
    assert "빠진 종목" in out and codes[10] in out
    assert "Traceback" not in err and _published(csv_cli.root, NEW_DAY) == 0
    # every other stock still reads on the last complete day
    rc, out, err = csv_cli("analyze", other)
    assert rc == 0, err
    assert "거래되지 않았습니다" not in out + err and "2025-06-30" in out
    rc, out, _ = csv_cli("daily")  # a re-run before the rest arrives: still nothing published
    assert rc == 1 and _published(csv_cli.root, NEW_DAY) == 0


def test_a_whole_drop_folder_is_scored_and_published(csv_cli) -> None:
    with MarketStore(csv_cli.root / "s.db") as store:
        write_drop(store, csv_cli.root / "drop", with_new_day=10_000)
    rc, out, err = csv_cli("daily")
    assert rc == 0, out + err
    assert f"{NEW_DAY} 채점: 완료" in out and "불완전" not in out
    assert _published(csv_cli.root, NEW_DAY) == 1


def test_one_stray_row_a_day_ahead_changes_nothing(workspace) -> None:
    from kstock.service.analyze import analyze
    from kstock.service.daily import freshness

    _, services = workspace
    store = services.store
    before = freshness(services, "2025-06-30")
    code, other = store.price_codes()[:2]
    store.upsert_prices(price_frame(code, NEW_DAY, 1, base=20_000))
    assert freshness(services, "2025-06-30") == before and not before.stale
    assert str(services.model_data().dates[-1]) == "2025-06-30"
    assert analyze(services, other, chart=False).result.date == "2025-06-30"


def test_the_bot_tells_each_admin_once_and_subscribers_get_the_staleness_note(tmp_path: Path) -> None:
    from kstock.bot.jobs import run_push, run_scoring
    from kstock.service import runs
    from kstock.service.daily import SCORE
    from support.bot_env import ADMIN, TRADING_EVENING, BotEnv, fresh_copy
    from support.fake_telegram import FakeTelegramServer

    evening = TRADING_EVENING + dt.timedelta(days=3)  # Monday 2025-10-13, the next session
    root = fresh_copy(tmp_path / "env")
    with MarketStore(root / "s.db") as store:
        codes = write_drop(store, root / "drop", with_new_day=10, new_day="2025-10-13")
        other = other_stock(store, codes[10:], 20251010)
    overrides = {"data_source": "csv", "csv_dir": root / "drop"}
    with FakeTelegramServer() as tg, BotEnv(tg, root, clock=lambda: evening, overrides=overrides) as env:
        env.ask(831, "/subscribe")
        for minutes in (0, 10):  # the job and its retry
            assert env.call(run_scoring(env.runtime, evening + dt.timedelta(minutes=minutes), bot=env.bot)) is None
        run = runs.run_for_day(env.services.store, SCORE, "2025-10-13")
        assert run.status == "stale" and run.metrics["coverage"]["count"] == 10
        alerts = [r.text for r in tg.messages_to(ADMIN) if "채점 보류" in r.text]
        assert len(alerts) == 1, alerts
        assert f"10/{len(codes)}종목" in alerts[0] and "빠진 종목" in alerts[0] and "2025-10-10" in alerts[0]
        push = env.call(run_push(env.runtime, env.bot, evening))
        assert push.sent == 1
        texts = [r.text for r in tg.messages_to(831)]
        assert any("데이터 지연" in t for t in texts) and not any("장 마감 기준 신호" in t for t in texts)
        analysis = env.ask(832, f"/analyze {other}").text
        assert "거래되지 않았습니다" not in analysis and "2025-10-10" in analysis
