"""The served number is the long record, the basket is the 매수 calls, and the book carries only what subscribers
received (issue 21, items 5 and 6; DESIGN §7)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kstock.config import Settings
from kstock.market.dates import day_int, iso
from kstock.ml.evaluation.calibration import Band, CalibrationTable, buy_calls_then, call_for
from kstock.ml.evaluation.record import record_folds
from kstock.service.headline import headline, no_basket_reason

SETTINGS = Settings.from_env({}, dotenv=None)


def table_of(top_excess: float, first: str = "2023-05-01", last: str = "2025-06-02", days: int = 520,
             n: int = 5_000) -> CalibrationTable:
    """A rising table whose top band earned ``top_excess``, measured over [first, last]."""
    excess = [(i - 4.5) / 1000 for i in range(9)] + [top_excess]
    bands = tuple(Band(i, i / 10, (i + 1) / 10, e, e, 0.5, n) for i, e in enumerate(excess))
    return CalibrationTable(5, bands, {"kind": "walk_forward", "first_day": first, "last_day": last, "days": days})


# -- the span of the served table ----------------------------------------------------------------------
def test_a_table_knows_how_long_a_record_it_is_and_says_so_in_its_metadata() -> None:
    long, short = table_of(0.004), table_of(0.004, first="2025-03-05", last="2025-06-02", days=60)
    assert long.is_record and long.years == pytest.approx(2.09, abs=0.01)
    assert not short.is_record and short.years < 0.3
    stored = long.as_dict()
    assert stored["is_record"] is True and stored["years"] == pytest.approx(2.09, abs=0.01)
    assert CalibrationTable.from_dict(json.loads(json.dumps(stored))).is_record  # read back from a meta.json
    assert not CalibrationTable(5, long.bands, {}).is_record  # no days known: never presented as the record


def test_a_number_from_a_short_table_says_what_it_rests_on() -> None:
    assert "2년" not in headline(SETTINGS, table_of(0.004), 0.95).text
    short = headline(SETTINGS, table_of(0.004, first="2025-03-05", last="2025-06-02", days=60), 0.95)
    assert short.text.endswith("최근 60거래일 검증 기준 · 2년 기록 아님")


def test_record_folds_are_yearly_and_cover_two_years_before_the_last_label() -> None:
    dates = np.array([np.datetime64("2019-01-02") + np.timedelta64(i, "D") for i in range(0, 365 * 6)])
    dates = dates[np.is_busday(dates)]
    valid = np.ones((3, len(dates)), dtype=bool)
    valid[:, -6:] = False  # the last days have no label yet
    data = SimpleNamespace(dates=dates, labels=SimpleNamespace(valid=valid))
    folds = record_folds(data, horizon=5)
    assert folds is not None and len(folds) == 2
    first, last = dates[folds[0].test_start], dates[folds[-1].test_end]
    assert last == dates[-7] and (last - first).astype(int) / 365.25 >= 2.0
    for fold in folds:  # each trains only on days whose label ended before its test block (embargo = horizon)
        assert fold.train_end == fold.test_start - 6
    short = SimpleNamespace(dates=dates[-600:], labels=SimpleNamespace(valid=valid[:, -600:]))
    assert record_folds(short, horizon=5) is None  # 2.3 years: no year of training before a two-year record


# -- the basket is the 매수 calls --------------------------------------------------------------------------
def test_no_basket_when_the_records_top_band_did_not_beat_the_universe() -> None:
    inverted = table_of(-0.002)
    reason = no_basket_reason(SETTINGS, inverted)
    assert reason is not None and "매수 바스켓이 없습니다" in reason and "-0.2%" in reason
    assert "2023-05-01~2025-06-02" in reason
    assert call_for(inverted, 0.99) == "HOLD"  # so no name is a 매수 call that day
    assert no_basket_reason(SETTINGS, table_of(0.004)) is None
    assert no_basket_reason(SETTINGS, None) is None  # nothing measured: the band alone calls (no number shown)
    thin = table_of(-0.002, n=20)
    assert no_basket_reason(SETTINGS, thin) is None and call_for(thin, 0.99) == "BUY"


def test_the_backtest_buys_only_the_calls_its_record_allowed_then(synth_panel) -> None:
    """A score whose top band loses: once the record knows it, the book may buy nothing; a winning score's top
    band stays buyable — and only the top band."""
    from kstock.ml.evaluation.calibration import round_trip_returns
    from kstock.ml.evaluation.tranche_book import backtest_followable

    panel, _ = synth_panel
    universe = np.ones(len(panel.codes), dtype=bool)
    future = round_trip_returns(panel, 5)
    rng = np.random.default_rng(0)
    score = np.nan_to_num(future, nan=0.0) + rng.normal(0, 1e-6, future.shape)
    good = buy_calls_then(score, panel, universe, horizon=5, min_traded_value=0)
    bad = buy_calls_then(-score, panel, universe, horizon=5, min_traded_value=0)
    late = slice(150, len(panel.dates) - 10)  # the record has hundreds of samples by then
    assert good[:, late].any(axis=0).all() and not bad[:, late].any()
    from kstock.ml.ensemble import daily_percentile

    assert (daily_percentile(score)[good] >= 0.9 - 1e-9).all()  # 매수 calls come from the top band only
    res = backtest_followable(-score, panel, k=4, horizon=5, min_traded_value=0,
                              start=150, end=len(panel.dates) - 10, keep_trace=True, buy_calls=bad)
    assert not any(plan.buys for plan in res.trace)


# -- on the live loop: the inverted table, the gap, the dates ---------------------------------------------
def _serve_table(services, table: CalibrationTable) -> None:
    """Make ``table`` the serving trees version's band table (as a retrain would have stored it)."""
    version = services.registry.current("trees")
    path = services.registry.root / "trees" / version.version / "meta.json"
    meta = json.loads(path.read_text())
    meta["calibration"] = table.as_dict()
    path.write_text(json.dumps(meta))
    services.forget_model("trees")
    services.day_cache.clear()


def test_an_inverted_record_publishes_no_basket_and_says_why(workspace, capsys) -> None:
    from kstock.bot.messages import push_text
    from kstock.cli.daily_cmds import signals_json
    from kstock.service.daily import run_daily
    from kstock.service.scoring import book_notes, latest_book

    _, services = workspace
    _serve_table(services, table_of(-0.002, days=520))
    day = run_daily(services).day
    date, book = latest_book(services, day)
    assert [s for s in book["BUY"] if s.entry == "new"] == []
    notes = book_notes(services, date)
    assert any("매수 바스켓이 없습니다" in line for line in notes)
    text = push_text(date, book["BUY"], book["SELL"], 20, 5, book["EXIT"], notes)
    assert "매수 바스켓이 없습니다" in text and "-0.2%" in text and "(없음 — 위 ⛔ 안내 참고)" in text
    out = signals_json(services, date, 10)
    assert out["no_basket"] and "매수 바스켓이 없습니다" in out["no_basket"]
    # the table turns positive again: the next day's basket is back, every name a 매수 call with its number
    _serve_table(services, table_of(0.004, days=520))
    day = run_daily(services).day
    date, book = latest_book(services, day)
    new = [s for s in book["BUY"] if s.entry == "new"]
    assert new and all(s.label == "BUY" and s.expected_excess == pytest.approx(0.004) for s in new)
    assert not book_notes(services, date)


def test_a_book_after_a_gap_carries_only_what_was_published(workspace) -> None:
    """Day 2's book is stored on stale data (never published): day 3 neither sells nor holds its buys, and says
    which day had no book."""
    from kstock.service import runs
    from kstock.service.daily import SCORE, run_daily, update_step
    from kstock.service.presenters import format_signals
    from kstock.service.scoring import book_notes, latest_book, score_market, stored_book

    _, services = workspace
    day1 = run_daily(services).day
    held1 = {s.code for s in stored_book(services, day1)["BUY"]}
    from kstock.service.daily import loop_day

    day2 = loop_day(services)
    assert update_step(services, day2).status == "ok"
    report = score_market(services, day2, stale=True)  # what /score stores when the data is behind: never sent
    run_id = runs.start_run(services.store, SCORE, day2)
    runs.finish_run(services.store, run_id, "stale", {}, "데이터 지연")
    only2 = {s.code for s in stored_book(services, day2)["BUY"] if s.entry == "new"} - held1
    assert report.stale
    day3 = run_daily(services).day
    date, book = latest_book(services, day3)
    assert date == day3 and day2 < day3
    carried = {s.code for s in book["BUY"] if s.entry != "new"} | {s.code for s in book["EXIT"]}
    assert carried <= held1 and not carried & only2  # nothing from the unpublished book is held or sold
    assert all(s.bought_on in (None, day1) or s.bought_on < day1 for s in book["EXIT"])
    notes = book_notes(services, date)
    md = f"{int(day2[5:7])}/{int(day2[8:10])}"
    assert notes and md in notes[0] and "1거래일" in notes[0] and "발행되지 않았습니다" in notes[0]
    assert md in format_signals(date, book["BUY"], book["SELL"], notes=notes)


def test_a_name_bought_today_never_sits_under_keep_holding(workspace) -> None:
    """Over the horizon and beyond, every line's date agrees with it: new names were bought that day, kept
    names at least a horizon before."""
    from kstock.market.calendar import TradingCalendar
    from kstock.service.daily import run_daily
    from kstock.service.presenters import format_signals
    from kstock.service.scoring import latest_book

    _, services = workspace
    horizon = services.settings.label_horizon
    for _ in range(horizon + 4):
        day = run_daily(services).day
        date, book = latest_book(services, day)
        calendar = TradingCalendar.from_store(services.store)
        for s in book["BUY"]:
            if s.entry == "new":
                assert s.bought_on == date
            else:
                assert s.bought_on < date
            if s.entry == "kept":
                assert calendar.trading_days_between(s.bought_on, date) >= horizon
        text = format_signals(date, book["BUY"], book["SELL"], horizon=horizon, exits=book["EXIT"])
        kept_line = next((line for line in text.splitlines() if line.startswith("🔁")), "")
        today = f"{int(date[5:7])}/{int(date[8:10])} 매수"
        assert today not in kept_line


def test_the_kept_line_shows_when_a_name_was_first_bought() -> None:
    from kstock.service.presenters import format_signals
    from kstock.service.scoring import Signal

    kept = Signal("005930", "삼성전자", "HOLD", None, 0.7, 3, 70_000.0, 1e11, "kept", None, None, None,
                  "2025-06-09", "2025-06-02")
    new = Signal("000660", "SK하이닉스", "BUY", None, 0.9, 1, 200_000.0, 1e11, "new", 0.004, 0.55, 5_000,
                 "2025-06-09", "2025-06-09")
    text = format_signals("2025-06-09", [new, kept], [], horizon=5)
    kept_line = next(line for line in text.splitlines() if line.startswith("🔁"))
    assert "삼성전자(005930, 6/2 매수)" in kept_line and "SK하이닉스" not in kept_line
    assert "삼성전자(6/2~)" in text and "SK하이닉스(6/9~)" in text


def test_every_buttons_emoji_is_the_call(workspace) -> None:
    from kstock.bot.messages import signal_buttons
    from kstock.service.scoring import Signal

    stocks = [Signal("005930", "삼성전자", "HOLD", None, None, 0), Signal("000660", "SK하이닉스", "BUY", None, None, 0),
              Signal("035720", "카카오", "SELL", None, None, 0)]
    markup = signal_buttons(stocks[:2], stocks[2:], "2025-06-09")
    texts = [b.text for row in markup.inline_keyboard for b in row]
    assert texts == ["⚪ 삼성전자", "🟢 SK하이닉스", "🔴 카카오"]


# -- real data -----------------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow
def test_on_real_data_the_basket_is_all_buy_calls_with_a_positive_number(krx_dir: Path, tmp_path: Path) -> None:
    """kospi_2020_2026 (every 4th ticker, 6.4 years): the trees trained the normal way serve a two-year
    walk-forward record, and the published basket is 매수 calls carrying its positive top-band number."""
    import shutil

    from kstock.cli.daily_cmds import signals_json
    from kstock.market.csv_import import import_directory
    from kstock.market.store import MarketStore
    from kstock.service.context import Services
    from kstock.service.headline import serving_table
    from kstock.service.retrain import retrain
    from kstock.service.scoring import score_market

    source = tmp_path / "csv"
    source.mkdir()
    for path in sorted((krx_dir / "kospi_2020_2026").glob("*.csv"))[::4]:
        shutil.copy(path, source / path.name)
    store = MarketStore(tmp_path / "s.db")
    import_directory(store, source, tickers_file=krx_dir / "tickers.csv",
                     sectors_file=krx_dir / "krx_industry_2021-12.csv",
                     index_files={"KOSPI": krx_dir / "index" / "kospi.csv"}, progress=False)
    services = Services(SETTINGS.with_overrides(db_path=tmp_path / "s.db", model_dir=tmp_path / "models"), store)
    assert retrain(services, "trees").status == "promoted"
    table = serving_table(services)
    assert table is not None and table.is_record and table.source["kind"] == "walk_forward"
    assert table.top.reliable
    last = iso(day_int(str(services.model_data().dates[-1])))
    score_market(services, last)
    out = signals_json(services, last, 20)
    new = [s for s in out["buys"] if s["entry"] == "new"]
    if table.top.mean_excess > 0:
        assert new and out["no_basket"] is None
        assert all(s["label"] == "BUY" and s["expected_excess"] > 0 for s in new)
    else:  # the record's top band lost: no basket, and the JSON says why
        assert not new and out["no_basket"]
    services.close()


def test_a_hand_scored_past_day_is_stored_but_never_published(workspace) -> None:
    """`kstock score --date D` of a day the loop skipped: nobody received D's book then, so it is stored as not
    published — not in the ledger, not a source of holdings — while the day's published books stay as they were,
    and a hand scoring of the source's current trading day is published (the positive control)."""
    from kstock.service import runs
    from kstock.service.daily import SCORE, loop_day, run_daily, score_now, update_step
    from kstock.service.ledger import outcomes
    from kstock.service.scoring import latest_book, publication, stored_book

    _, services = workspace
    day1 = run_daily(services).day
    day2 = loop_day(services)
    assert update_step(services, day2).status == "ok"
    run_id = runs.start_run(services.store, SCORE, day2)  # the loop's scoring of day 2 never happened
    runs.finish_run(services.store, run_id, "stale", {}, "데이터 지연")
    day3 = run_daily(services).day
    held3 = {s.code for s in stored_book(services, day3)["BUY"]}
    book3, ledger = stored_book(services, day3), outcomes(services)

    report = score_now(services, day2)  # by hand, days later
    assert report.date == day2 and report.stale
    assert publication(services, day2)["stale"] is True
    assert outcomes(services) == ledger  # the ledger measures only what subscribers received
    assert score_now(services, day1).stale and publication(services, day1)["stale"] is False  # kept as published
    assert stored_book(services, day3) == book3

    day4 = run_daily(services).day
    _, book4 = latest_book(services, day4)
    carried = {s.code for s in book4["BUY"] if s.entry != "new"} | {s.code for s in book4["EXIT"]}
    assert carried <= held3  # holdings follow the published day 3, never the hand-scored day 2

    day5 = loop_day(services)
    assert update_step(services, day5).status == "ok"
    current = score_now(services, day5)  # the source's current trading day, scored by hand: published
    assert not current.stale and publication(services, day5)["stale"] is False
    assert day5 in {s.date for s in outcomes(services)[0]}
