"""One buyable rule (`kstock.market.tradability`) for the backtest, the served book and the ledger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kstock.market.tradability import MIN_LISTED_DAYS, buyable_at_close, execution
from support.panels import panel

NAN = np.nan


def test_buyable_needs_common_liquid_traded_and_listed_long_enough() -> None:
    t = MIN_LISTED_DAYS + 5
    closes = np.full((4, t), 10_000.0)
    closes[2, -1] = NAN  # halted on the last day
    closes[3, : t - 10] = NAN  # listed ten days ago
    volume = np.array([[1e6], [1e4], [1e6], [1e6]]) * np.ones((4, t))  # 100억원/day vs 1억원/day
    p = panel(closes, volume)
    universe = np.array([True, True, True, True])
    ok = buyable_at_close(p, universe, 1e9)
    assert ok[:, -1].tolist() == [True, False, False, False]
    assert not ok[0, MIN_LISTED_DAYS - 2] and ok[0, MIN_LISTED_DAYS - 1]  # the 60th traded day is the first
    assert not buyable_at_close(p, np.array([False, True, True, True]), 1e9)[0].any()  # not a common stock
    assert buyable_at_close(p, universe, 1e7)[1, -1]  # the threshold is the setting


def test_execution_marks_a_limit_up_open_as_not_enterable() -> None:
    closes = np.array([[10_000.0, 10_000.0, 13_000.0], [10_000.0, 10_000.0, 10_500.0]])
    opens = closes.copy()
    opens[0, 2] = 13_000.0  # opens +30 %: no sellers
    ex = execution(panel(closes, opens=opens))
    assert ex.limit_up_next[0, 1] and not ex.enterable[0, 1]
    assert ex.enterable[1, 1]


def test_a_reverse_split_during_a_halt_is_not_a_return_for_a_held_name() -> None:
    """The real KOSPI files have names that resume after a halt at 15× the last price (a reverse split the
    source did not adjust). The book must value such a name flat across the jump, not at +1,400 %."""
    from kstock.ml.evaluation.calibration import round_trip_returns
    from kstock.ml.evaluation.tranche_book import backtest_followable

    closes = np.full((2, 12), 1_000.0)
    closes[0, 4:7] = NAN  # halted three days ...
    closes[0, 7:] = 15_000.0  # ... and back at 15× (a 15:1 reverse split)
    closes[0, 9] = 16_500.0  # a real +10 % after it
    p = panel(closes)
    ex = execution(p)
    assert np.nanmax(np.abs(ex.ret_next[0])) == pytest.approx(0.10)  # the only return left is the real one
    assert np.all(np.isfinite(ex.ret_next[0, :9]) & (ex.ret_next[0, :9] <= 0.10 + 1e-12))
    trips = round_trip_returns(p, horizon=5)
    assert np.nanmax(trips[0]) < 0.11  # buy before the halt, sell after: ≈ 0 (less costs), +10 % at most
    score = np.array([[1.0] * 12, [0.0] * 12])  # the book holds the split name throughout
    book = backtest_followable(score, p, k=1, horizon=5, min_traded_value=0.0)
    assert np.max(book.gross_returns) < 0.11


def test_breaks_are_stepped_over_without_look_ahead() -> None:
    """A price as known on day t never changes when a later break arrives (the ledger reads live data)."""
    closes = np.full((1, 10), 1_000.0)
    closes[0, 6:] = 200.0  # a 5:1 split on day 6
    whole, cut = execution(panel(closes)), execution(panel(closes[:, :6]))
    assert np.array_equal(whole.open_ff[:, :6], cut.open_ff)
    assert np.allclose(whole.ret_next[0, :8], 0.0)  # flat across the split


# --- real data ------------------------------------------------------------------------------------------

#: 맥쿼리인프라 and KB발해인프라 (funds), 진로발효 (trades ~6천만원 a day), big liquid names, and a spread of others.
PICKED = ["088980", "415640", "018120", "005930", "000660", "035420", "005380", "051910", "068270", "105560"]


@pytest.fixture(scope="module")
def real_services(krx_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from kstock.market.csv_import import import_directory
    from kstock.market.store import MarketStore
    from kstock.service.context import Services
    from kstock.service.retrain import retrain
    from support.workspace import fast_tree_options, synth_settings

    root = tmp_path_factory.mktemp("real")
    drop = root / "drop"
    drop.mkdir()
    files = sorted((krx_dir / "market_2023_2025").glob("*.csv"))
    chosen = {f.stem for f in files[::12]} | set(PICKED)  # ~240 tickers of both markets
    for f in files:
        if f.stem in chosen:
            (drop / f.name).symlink_to(f)
    store = MarketStore(root / "s.db", create=True)
    import_directory(store, drop, tickers_file=krx_dir / "tickers.csv", index_files={"KOSPI": krx_dir / "index" /
                     "kospi.csv"}, progress=False)
    services = Services(synth_settings(root), store)
    assert retrain(services, "trees", **fast_tree_options()).status == "promoted"
    yield services
    services.close()


@pytest.mark.realdata
@pytest.mark.slow
def test_served_book_on_real_data_buys_only_liquid_common_stocks(real_services) -> None:
    from kstock.market.types import InstrumentKind
    from kstock.service.scoring import score_market, stored_signals

    services = real_services
    report = score_market(services)
    buys, sells = stored_signals(services, report.date, top=100)
    kinds = {t.code: t.kind for t in services.store.tickers()}
    assert kinds["088980"] == InstrumentKind.FUND and kinds["415640"] == InstrumentKind.FUND
    from kstock.ml.evaluation.tranche_book import slots_per_day

    slots = slots_per_day(services.settings.top_k, services.settings.label_horizon)  # the first tranche
    assert 1 <= len(buys) <= slots and all(s.label == "BUY" for s in buys)  # only 매수 calls fill its slots
    assert all(s.traded_value_20d >= services.settings.min_traded_value for s in buys)
    assert all(kinds[s.code] == InstrumentKind.COMMON for s in buys + sells)
    assert "018120" not in {s.code for s in buys}  # 진로발효: far below 10억원 a day


@pytest.mark.realdata
@pytest.mark.slow
def test_backtest_and_scoring_agree_on_the_buyable_set(real_services) -> None:
    from kstock.service.scoring import score_market, stored_signals

    services = real_services
    data = services.model_data()
    mtv = services.settings.min_traded_value
    day = len(data.dates) - 1
    rule = buyable_at_close(data.panel, data.universe, mtv)[:, day]
    assert np.array_equal(data.buyable(mtv)[:, day], rule)  # what the evaluator hands the backtest
    report = score_market(services)
    buys, _ = stored_signals(services, report.date, top=100)
    codes = np.asarray(data.panel.codes)
    assert {s.code for s in buys} <= set(codes[rule])
    # an earlier day scored by hand: the same rule decides what its book may hold
    earlier = str(data.dates[day - 2])
    served = score_market(services, earlier)
    rule_earlier = buyable_at_close(data.panel, data.universe, mtv)[:, day - 2]
    assert {s.code for s in stored_signals(services, earlier, top=100)[0]} <= set(codes[rule_earlier])
    assert served.buyable <= int(rule_earlier.sum())


def test_a_shift_longer_than_the_days_held_is_all_fill() -> None:
    """A window shorter than the horizon (a store of a few days): every day's "later" value is unknown, not an
    error — the round trip of a 5-day hold on a 3-day panel is NaN throughout."""
    from kstock.market.tradability import shift_left

    a = np.arange(6, dtype=float).reshape(2, 3)
    np.testing.assert_array_equal(shift_left(a, 1, np.nan), [[1, 2, np.nan], [4, 5, np.nan]])
    for by in (3, 4, 10):
        assert np.isnan(shift_left(a, by, np.nan)).all()
    assert not shift_left(a > 0, 7, False).any()
