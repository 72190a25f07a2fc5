"""The daily loop (`kstock.service.daily`, `kstock daily`) on the synthetic market's simulated clock.

A trading day runs update → scoring → book, each recorded once for that day; a failed update leaves the
day stale (no book, nothing published as today's); a restart in the middle finishes the same day; the
synthetic source reveals one generated day per update, deterministically.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kstock.cli import main
from kstock.market.pykrx_source import UpdateReport
from kstock.market.sources import SyntheticSource, synthesize_store, synthetic_spec
from kstock.market.store import MarketStore
from kstock.ml.evaluation.tranche_book import slots_per_day
from kstock.service import runs
from kstock.service.daily import SCORE, UPDATE, freshness, loop_day, run_daily, score_step, update_step
from kstock.service.scoring import latest_book, publication, stored_book, stored_signals


class BrokenSource:
    """A source whose every update fails the way pykrx does with no network."""

    name = "pykrx"

    def __init__(self, today: str) -> None:
        self._today = today

    def update(self, store: MarketStore, *, progress: bool = True) -> UpdateReport:
        return UpdateReport(False, message="KRX에 연결할 수 없습니다 (ConnectionError)")

    def today(self, store: MarketStore, now=None):
        import datetime as dt

        return dt.date.fromisoformat(self._today)


def day_rows(store: MarketStore, day: str) -> pd.DataFrame:
    rows = store.conn.execute("SELECT code, date, open, high, low, close, volume FROM prices WHERE date = ? "
                              "ORDER BY code", (int(day.replace("-", "")),)).fetchall()
    return pd.DataFrame(rows)


def test_synthetic_source_reveals_one_generated_day_per_update_deterministically(tmp_path: Path) -> None:
    a, b = MarketStore(tmp_path / "a.db"), MarketStore(tmp_path / "b.db")
    for store in (a, b):
        synthesize_store(store, n_tickers=30, years=1.0, seed=3, present="2025-06-30")
    assert str(a.trading_days()[-1]) == "2025-06-30" and SyntheticSource().today(a).isoformat() == "2025-06-30"
    revealed = []
    for _ in range(3):
        report = SyntheticSource().update(a)
        assert report.ok and report.rows_changed > 0
        revealed.append(synthetic_spec(a).today)
    assert revealed == ["2025-07-01", "2025-07-02", "2025-07-03"]
    assert str(a.trading_days()[-1]) == "2025-07-03"
    SyntheticSource().update(b)
    pd.testing.assert_frame_equal(day_rows(a, "2025-07-01"), day_rows(b, "2025-07-01"))  # the same market
    assert len(day_rows(b, "2025-07-02")) == 0  # nothing beyond its own clock


def test_a_trading_day_updates_scores_and_stores_the_book_each_once(workspace) -> None:
    _, services = workspace
    report = run_daily(services)
    day = report.day
    assert [(s.step, s.status) for s in report.steps] == [(UPDATE, "ok"), (SCORE, "ok")]
    assert report.freshness is not None and not report.freshness.stale and report.freshness.data_date == day
    assert report.scoring is not None and report.scoring.date == day
    for job in (UPDATE, SCORE):
        run = runs.run_for_day(services.store, job, day)
        assert run is not None and run.status == "ok" and run.day == day
    # the same day again (a retry, another front door): nothing runs twice
    assert update_step(services, day).status == "done"
    assert score_step(services, day)[0].status == "done"
    assert len([r for r in runs.last_runs(services.store, 20) if r.day == day and r.job == SCORE]) == 1
    buys, _ = stored_signals(services, day, top=100)
    slots = slots_per_day(services.settings.top_k, services.settings.label_horizon)
    # the first tranche of the book: at most a day's slots, and only 매수 calls (40 names: 4 in the top band)
    assert 1 <= len(buys) <= slots and {s.entry for s in buys} == {"new"} and {s.label for s in buys} == {"BUY"}
    assert {s.entry_date for s in buys} == {day}
    assert publication(services, day) == {"date": day, "data_date": day, "stale": False,
                                          "versions": report.scoring.versions, "notes": {}}
    # the next trading day: yesterday's tranche is held, a new one is bought; after a horizon the first comes due
    nxt = run_daily(services)
    assert nxt.day > day and nxt.scoring is not None and nxt.scoring.date == nxt.day
    book = stored_book(services, nxt.day)
    assert {s.code for s in book["BUY"] if s.entry == "held"} == {s.code for s in buys}
    assert 1 <= len([s for s in book["BUY"] if s.entry == "new"]) <= slots and book["EXIT"] == []
    for _ in range(services.settings.label_horizon - 1):
        later = run_daily(services)
    book = stored_book(services, later.day)
    first = {s.code for s in buys}
    due = {s.code for s in book["BUY"] if s.entry == "kept"} | {s.code for s in book["EXIT"]}
    assert due == first  # each name of the first tranche was either kept (still near the top) or sold
    assert len(book["BUY"]) <= services.settings.top_k


def test_a_read_beside_the_scoring_write_never_sees_half_a_book(workspace) -> None:
    """The bot reads the book in a worker thread on the connection the scoring job writes on: a read in
    the middle of that transaction waits for it instead of seeing its uncommitted rows."""
    import threading

    _, services = workspace
    day = run_daily(services).day
    whole = stored_book(services, day)
    inside, done = threading.Event(), threading.Event()

    def rewrite_then_fail() -> None:  # a scoring write that deletes the book, then rolls back
        with pytest.raises(RuntimeError), services.store.transaction() as conn:
            conn.execute("DELETE FROM book WHERE date = ?", (int(day.replace("-", "")),))
            inside.set()
            done.wait(0.3)
            raise RuntimeError("scoring failed half-way")

    writer = threading.Thread(target=rewrite_then_fail)
    writer.start()
    assert inside.wait(5)
    read = stored_book(services, day)  # waits for the rollback
    done.set()
    writer.join()
    assert read == whole
    assert latest_book(services, day) == (day, whole)


def test_a_restart_after_the_update_finishes_the_same_day(workspace) -> None:
    _, services = workspace
    day = loop_day(services)
    assert update_step(services, day).status == "ok"  # … and the process dies here
    assert loop_day(services) == day  # the day's loop is not finished: resume it, do not move the clock
    report = run_daily(services)
    assert report.day == day and [s.status for s in report.steps] == ["done", "ok"]
    assert loop_day(services) > day


def test_a_day_revealed_outside_the_loop_is_scored_not_skipped(workspace) -> None:
    """`kstock data update` on the synthetic market reveals a day with no loop record: the next loop scores
    that day instead of moving past it."""
    _, services = workspace
    assert SyntheticSource().update(services.store).ok
    revealed = synthetic_spec(services.store).today
    report = run_daily(services)
    assert report.day == revealed and [s.status for s in report.steps] == ["done", "ok"]
    assert publication(services, revealed) is not None and loop_day(services) > revealed


def test_rows_of_a_day_the_clock_never_reached_do_not_stop_the_market(workspace) -> None:
    """A store an older kstock left killed between the day's rows and the clock's move: the next update
    moves the clock (the rows are already there), and the loop goes on."""
    from kstock.market.sources import _generated, _until

    _, services = workspace
    store = services.store
    spec = synthetic_spec(store)
    day = SyntheticSource().next_day(store)
    store.ingest(_until(_generated(*spec.generation), spec.today, day), source="killed")  # rows, no clock
    first = run_daily(services)
    assert first.day == day and [(s.step, s.status) for s in first.steps] == [(UPDATE, "ok"), (SCORE, "ok")]
    assert synthetic_spec(store).today == day
    second = run_daily(services)
    assert second.day > day and second.scoring is not None


def test_failed_update_leaves_the_day_stale_with_no_book(workspace) -> None:
    _, services = workspace
    last = str(services.store.trading_days()[-1])
    services._source = BrokenSource("2025-07-02")
    report = run_daily(services)
    assert report.day == "2025-07-02"
    assert [(s.step, s.status) for s in report.steps] == [(UPDATE, "failed"), (SCORE, "skipped")]
    assert report.freshness.stale and report.freshness.data_date == last and report.freshness.behind == 2
    assert "2거래일" in report.freshness.warning()
    assert runs.run_for_day(services.store, SCORE, "2025-07-02").status == "stale"
    assert publication(services, "2025-07-02") is None  # nothing published for the day
    assert services.store.conn.execute("SELECT COUNT(*) FROM book").fetchone()[0] == 0
    assert freshness(services).stale


@pytest.fixture
def cli_env(workspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace's store and models as the CLI's KSTOCK_DB / KSTOCK_MODEL_DIR (its services closed)."""
    root, services = workspace
    services.close()
    monkeypatch.setenv("KSTOCK_DB", str(root / "s.db"))
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(root / "models"))
    return root


def test_kstock_daily_runs_the_loop_and_reports_json(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["daily", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["ok"] and first["freshness"]["stale"] is False and first["book"]["buys"]
    assert main(["daily"]) == 0
    text = capsys.readouterr().out
    second_day = text.split()[0]
    assert second_day > first["day"] and "채점: 완료" in text and "매수 바스켓" in text

    assert main(["signals", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["date"] == second_day and payload["stale"] is False
    assert set(payload) == {"date", "stale", "buys", "exits", "sells", "no_basket", "skipped_days"}
    assert payload["no_basket"] is None and payload["skipped_days"] == []
    for entry in payload["buys"] + payload["sells"]:
        assert {"code", "name", "rank", "label", "traded_value_20d", "close"} <= set(entry)
    assert all(e["traded_value_20d"] >= 1e9 for e in payload["buys"])  # KSTOCK_MIN_TRADED_VALUE
    assert [e["rank"] for e in payload["buys"]] == list(range(1, len(payload["buys"]) + 1))


def test_signals_for_an_unscored_day_say_so(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signals", "--date", "2025-06-27"]) == 1
    err = capsys.readouterr().err
    assert "채점되지 않은 날" in err and "kstock score --date 2025-06-27" in err and "Traceback" not in err
