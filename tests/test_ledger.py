"""The ledger and `/performance`: every published BUY signal measured as the backtest trades it.

A signal of day t is bought at t+1's open and sold at the open ``horizon`` sessions later, commission on both
sides and the sell tax deducted; stale days are not in the record; the empty state says why it is empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kstock.cli import main
from kstock.market.dates import day_int
from kstock.market.krx import COMMISSION, sell_tax
from kstock.service.context import Services
from kstock.service.daily import run_daily, score_now
from kstock.service.ledger import outcomes, performance
from kstock.service.performance_view import format_performance
from support.bot_env import BotEnv, fresh_copy
from support.fake_telegram import FakeTelegramServer
from support.workspace import copy_workspace, synth_settings

LOOP_DAYS = 12


@pytest.fixture(scope="module")
def lived(synth_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden market after twelve trading days of the live loop (update → score → book each day)."""
    root = copy_workspace(synth_golden, tmp_path_factory.mktemp("lived"))
    services = Services(synth_settings(root))
    for _ in range(LOOP_DAYS):
        assert run_daily(services).scoring is not None
    services.close()
    return root


@pytest.fixture
def services(lived: Path, tmp_path: Path):
    s = Services(synth_settings(copy_workspace(lived, tmp_path / "ws")))
    yield s
    s.close()


def open_price(services: Services, code: str, day: np.datetime64) -> float:
    return services.store.conn.execute("SELECT open FROM prices WHERE code = ? AND date = ?",
                                       (code, day_int(day))).fetchone()[0]


def test_a_published_signal_is_measured_exactly_as_the_backtest_trades_it(services: Services) -> None:
    signals, days = outcomes(services)
    h = services.settings.label_horizon
    assert days == LOOP_DAYS
    measured = [s for s in signals if s.status == "measured"]
    assert {s.status for s in signals} <= {"measured", "pending", "not_bought"} and measured
    sessions = services.store.trading_days()
    for s in measured[:25]:
        t = int(np.searchsorted(sessions, np.datetime64(s.date)))
        buy, sell = open_price(services, s.code, sessions[t + 1]), open_price(services, s.code, sessions[t + 1 + h])
        expected = (sell / buy) * (1 - COMMISSION) * (1 - COMMISSION - sell_tax(sessions[t + 1 + h])) - 1
        assert s.net_return == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert s.excess == pytest.approx(s.net_return - s.universe)
    # the last `horizon` published days cannot be measured yet
    last_days = sorted({s.date for s in signals})[-h:]
    assert all(s.status == "pending" for s in signals if s.date in last_days)


def test_the_record_sums_up_what_was_measured(services: Services) -> None:
    perf = performance(services)
    measured = [s for s in outcomes(services)[0] if s.status == "measured"]
    excess = np.array([s.excess for s in measured])
    assert perf.signals == len(measured) and perf.days == LOOP_DAYS
    assert perf.hit_rate == pytest.approx((excess > 0).mean())
    assert perf.mean_excess_return == pytest.approx(excess.mean())
    assert perf.ci95[0] < perf.mean_excess_return < perf.ci95[1]
    assert sum(v["signals"] for v in perf.by_version.values()) == perf.signals
    assert len(perf.curve) == perf.measured_days and {"book", "universe", "kospi"} <= set(perf.curve[-1])
    text = format_performance(perf)
    assert "시장을 이긴 비율" in text and "95% 구간" in text and "5거래일 뒤 시가 매도" in text


def test_a_stale_day_is_not_in_the_ledger_and_a_published_book_is_never_rewritten(
        services: Services, synth_golden: Path, tmp_path: Path) -> None:
    import datetime as dt

    from kstock.market.sources import CsvDropSource

    later = dt.datetime(2030, 1, 2, 17, 0, tzinfo=dt.UTC)  # on the KRX clock the stored data is years behind
    before = outcomes(services)
    services.clock, services._source = (lambda: later), CsvDropSource(None)
    assert score_now(services).stale  # the last published day scored again, by hand, on now-old data
    assert outcomes(services) == before  # the published record is as it was
    fresh = Services(synth_settings(copy_workspace(synth_golden, tmp_path / "stale")))
    fresh.clock, fresh._source = (lambda: later), CsvDropSource(None)
    report = score_now(fresh)
    assert report.stale and report.buys  # stored and shown to an admin …
    assert outcomes(fresh) == ([], 0)  # … but never published, so not in the ledger
    fresh.close()


def test_empty_states_say_why(synth_golden: Path, tmp_path: Path) -> None:
    services = Services(synth_settings(copy_workspace(synth_golden, tmp_path / "ws")))
    assert "아직 발행된 신호가 없습니다" in format_performance(performance(services))
    run_daily(services)
    perf = performance(services)
    assert perf.empty and perf.days == 1 and perf.pending == len(outcomes(services)[0])
    assert "발행 후 6거래일이 지나야" in format_performance(perf, 6)
    services.close()


def test_kstock_performance_json_chart_and_bad_input(lived: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_workspace(lived, tmp_path / "ws")
    monkeypatch.setenv("KSTOCK_DB", str(root / "s.db"))
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(root / "models"))
    chart = tmp_path / "perf.png"
    assert main(["performance", "--json", "--chart", str(chart)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"days", "signals", "hit_rate", "mean_excess_return", "ci95", "by_version"} <= set(payload)
    assert payload["days"] == LOOP_DAYS and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    later = sorted({p["date"] for p in payload["curve"]})[-1]
    assert main(["performance", "--json", "--since", later]) == 0
    assert json.loads(capsys.readouterr().out)["measured_days"] == 1
    assert main(["performance", "--chart", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "폴더입니다" in err and "Traceback" not in err
    for typed in ("soon", "NaT", ""):  # an argparse error (exit 2), never a silent "since the beginning"
        with pytest.raises(SystemExit) as info:
            main(["performance", "--since", typed])
        assert info.value.code == 2 and "날짜" in capsys.readouterr().err


def test_performance_through_the_bot(lived: Path, synth_golden: Path, tmp_path: Path) -> None:
    with FakeTelegramServer(require_png=True) as tg:
        with BotEnv(tg, fresh_copy(tmp_path / "empty")) as env:  # nothing published yet
            reply = env.ask(901, "/performance").text
            assert "아직 발행된 신호가 없습니다" in reply
        with BotEnv(tg, copy_workspace(lived, tmp_path / "lived")) as env:
            since = len(tg.sent)
            reply = env.ask(902, "/performance").text
            assert "시장을 이긴 비율" in reply and "Traceback" not in reply
            photo = tg.wait_for(lambda r: r.chat_id == 902 and r.method == "sendPhoto", since=since, timeout=20)
            assert "KOSPI" in (photo.text or "")
