"""The band table behind every headline: measured as the backtest trades, from out-of-sample predictions only."""

from __future__ import annotations

import numpy as np
import pytest

from kstock.config import Settings
from kstock.market.krx import COMMISSION
from kstock.market.types import Panel
from kstock.ml.base import MemberOutput
from kstock.ml.evaluation.calibration import (
    N_BANDS,
    Band,
    CalibrationTable,
    band_index,
    build_table,
    call_for,
    calls_for,
    round_trip_returns,
)

P0, VOL = 10_000.0, 1e6  # 1e10 KRW traded a day: liquid


def make_panel(opens: np.ndarray, dates: list[str] | None = None) -> Panel:
    """A panel whose closes equal its opens; NaN opens are halts (the whole row NaN)."""
    opens = np.asarray(opens, dtype=float)
    n, t = opens.shape
    vol = np.where(np.isnan(opens), np.nan, VOL)
    ohlcv = np.stack([opens, opens, opens, opens, vol], axis=-1)
    days = np.array(dates, dtype="datetime64[D]") if dates else np.datetime64("2024-03-04") + np.arange(t)
    return Panel(codes=[f"{i:06d}" for i in range(n)], dates=days, ohlcv=ohlcv, halted=np.isnan(opens))


def table_of(excess: list[float], n: int = 1_000, horizon: int = 5) -> CalibrationTable:
    bands = tuple(Band(i, i / 10, (i + 1) / 10, e, e, 0.5 + e, n) for i, e in enumerate(excess))
    return CalibrationTable(horizon, bands, {"kind": "test"})


# -- measuring a signal as the backtest trades it ---------------------------------------------------------------
def test_round_trip_is_next_open_to_open_after_horizon_net_of_costs() -> None:
    # decided on day 0 (close 10,000) → bought at day 1's open (12,000: the overnight gap is not earned),
    # sold at day 1+2's open (13,200): +10 % gross, commission both ways and the 2024 sell tax (0.18 %)
    opens = np.array([[10_000, 12_000, 12_500, 13_200, 13_200, 13_200]], dtype=float)
    ret = round_trip_returns(make_panel(opens), horizon=2)
    assert ret[0, 0] == pytest.approx(1.10 * (1 - COMMISSION) * (1 - COMMISSION - 0.0018) - 1)
    assert np.isnan(ret[0, -3:]).all()  # the panel ends before the sale


def test_round_trip_carries_a_halt_and_takes_the_tax_of_the_sale_year() -> None:
    dates = ["2024-12-26", "2024-12-27", "2024-12-30", "2025-01-02", "2025-01-03"]
    opens = np.array([[10_000, 10_000, 10_000, np.nan, 11_000],  # halted on the sale day: its last open
                      [10_000, np.nan, 10_000, 10_000, 10_000]])  # halted on the buy day: no trade
    ret = round_trip_returns(make_panel(opens, dates), horizon=2)
    assert ret[0, 0] == pytest.approx((1 - COMMISSION) * (1 - COMMISSION - 0.0015) - 1)  # sold 2025-01-02
    assert ret[0, 1] == pytest.approx(1.1 * (1 - COMMISSION) * (1 - COMMISSION - 0.0015) - 1)
    assert np.isnan(ret[1, 0])


def test_table_measures_excess_over_the_buyable_universe() -> None:
    # 20 names, flat except name i grows i × 0.1 % a day; the score knows it: band k holds names 2k, 2k+1
    t, n = 90, 20
    growth = 1 + 0.001 * np.arange(n)
    opens = P0 * growth[:, None] ** np.arange(t)[None, :]
    panel = make_panel(opens)
    score = np.repeat(np.arange(n, dtype=float)[:, None], t, axis=1)
    days = np.arange(65, 80)  # after the listing-history rule lets names into the buyable set
    table = build_table(score, panel, np.ones(n, dtype=bool), days, horizon=5, min_traded_value=1e9)
    excess = np.array([b.mean_excess for b in table.bands])
    assert (np.diff(excess) > 0).all() and abs(np.average(excess, weights=[b.n for b in table.bands])) < 1e-12
    assert table.bands[-1].hit_rate == 1.0 and table.bands[0].hit_rate == 0.0
    assert [b.n for b in table.bands] == [2 * len(days)] * N_BANDS and table.n == n * len(days)
    assert table.source["days"] == len(days) and table.source["first_day"] == str(panel.dates[65])


def test_illiquid_names_stay_out_of_the_table() -> None:
    t, n = 90, 10
    opens = np.full((n, t), P0)
    panel = make_panel(opens)
    panel.ohlcv[0, :, 4] = 100.0  # 1e6 KRW a day
    score = np.repeat(np.arange(n, dtype=float)[:, None], t, axis=1)
    table = build_table(score, panel, np.ones(n, dtype=bool), np.arange(65, 80), horizon=5, min_traded_value=1e9)
    assert table.bands[0].n == 0 and np.isnan(table.bands[0].mean_excess) and table.n == 9 * 15


def test_table_round_trips_through_json_and_rejects_junk() -> None:
    import json

    table = table_of([i / 100 for i in range(10)])
    assert CalibrationTable.from_dict(json.loads(json.dumps(table.as_dict()))) == table
    for junk in (None, {}, {"horizon": 5, "bands": []}, {"horizon": 5, "bands": [{"index": 0}]}, "x"):
        assert CalibrationTable.from_dict(junk) is None


# -- the call comes from the band --------------------------------------------------------------------------
def test_band_index_edges() -> None:
    assert band_index(0.0) == 0 and band_index(0.0999) == 0 and band_index(0.1) == 1
    assert band_index(0.95) == 9 and band_index(1.0) == 9
    assert band_index(np.array([np.nan, 0.5])).tolist() == [-1, 5]


def test_a_buy_never_shows_a_worse_number_than_a_sell() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        table = table_of(list(rng.normal(0, 0.01, N_BANDS)))
        calls = {p: call_for(table, p) for p in np.linspace(0, 1, 101)}
        buys = [table.band_for(p).mean_excess for p, c in calls.items() if c == "BUY"]
        sells = [table.band_for(p).mean_excess for p, c in calls.items() if c == "SELL"]
        assert all(b > 0 for b in buys) and all(s < 0 for s in sells)


def test_calls_without_a_table_are_the_top_and_bottom_deciles() -> None:
    p = np.array([0.0, 0.05, 0.1, 0.5, 0.89, 0.9, 1.0, np.nan])
    assert calls_for(None, p).tolist() == ["SELL", "SELL", "HOLD", "HOLD", "HOLD", "BUY", "BUY", ""]
    inverted = table_of([0.01] + [0.0] * 8 + [-0.01])  # the top band lagged the market out of sample
    assert calls_for(inverted, p).tolist() == ["HOLD"] * 7 + [""]
    thin = table_of([-0.01] + [0.0] * 8 + [0.01], n=10)  # too few samples to overrule the band
    assert calls_for(thin, p).tolist() == calls_for(None, p).tolist()


def test_the_markets_calls_are_each_names_call() -> None:
    """calls_for (one band lookup for the whole market) says for every name what call_for says for it."""
    rng = np.random.default_rng(3)
    p = rng.uniform(size=2_000)
    p[::9] = np.nan
    p[:4] = [0.0, 0.1, 0.9, 1.0]  # band edges
    for table in (None, table_of([0.01] + [0.0] * 8 + [-0.01]), table_of([-0.01] + [0.0] * 8 + [0.01]),
                  table_of([-0.01] + [0.0] * 8 + [0.01], n=10), table_of([0.0] * 10)):
        assert calls_for(table, p).tolist() == [call_for(table, float(x)) for x in p]
    assert calls_for(None, np.array(0.95)).tolist() == "BUY"  # a scalar keeps its shape


# -- out-of-sample only ------------------------------------------------------------------------------------
class Memorizer:
    """Knows the answer on every day it was trained on and nothing on any other: a perfect in-sample score
    and pure noise out of sample. A table built from in-sample predictions would look excellent."""

    def __init__(self) -> None:
        self.train = np.zeros(0, dtype=bool)

    def fit(self, data, train_days: np.ndarray) -> None:
        self.train = np.asarray(train_days, dtype=bool).copy()

    def predict_days(self, data, days: np.ndarray) -> MemberOutput:
        ok = data.sample_mask(np.isin(np.arange(len(data.dates)), days), need_label=False)[:, days]
        noise = np.random.default_rng(int(days[0])).random(ok.shape)
        known = self.train[days][None, :] & np.isfinite(data.labels.tradeable_return[:, days])
        score = np.where(known, data.labels.tradeable_return[:, days], noise)
        return MemberOutput(np.where(ok, 0.5, np.nan), np.where(ok, score, np.nan))

    def save(self, folder) -> None:
        (folder / "memorizer.txt").write_text("in-sample answers")


def spread(table: CalibrationTable) -> float:
    return table.bands[-1].mean_excess - table.bands[0].mean_excess


def test_training_records_the_validation_window_only(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from kstock.service import retrain as rt

    root, services = workspace
    (root / "models" / "trees" / "CURRENT").unlink()  # nothing serving: the gate lets the memorizer in
    services.forget_model("trees")
    monkeypatch.setattr(rt, "create_model", lambda *_a, **_k: Memorizer())
    result = rt.retrain(services, "trees")
    assert result.status == "promoted", result.reason
    meta = services.registry.current("trees").meta
    table = CalibrationTable.from_dict(meta["calibration"])
    assert table is not None and table.source["kind"] == "validation"
    first, last = meta["validation_range"]
    assert first <= table.source["first_day"] <= table.source["last_day"] <= last
    assert abs(spread(table)) < 0.02, table.rows()
    # the same model's in-sample days would have shown a large spread: the test can tell them apart
    data = services.model_data()
    train, _ = rt.validation_split(data, services.settings.label_horizon)
    memorizer = Memorizer()
    memorizer.fit(data, train)
    in_sample = np.flatnonzero(train)[-60:]
    out = memorizer.predict_days(data, in_sample)
    assert spread(rt.validation_table("trees", out, data, in_sample, services.settings)) > 0.05


def test_evaluation_records_the_test_folds_only(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from kstock.service import evaluate as ev

    _root, services = workspace
    monkeypatch.setattr(ev, "create_model", lambda *_a, **_k: Memorizer())
    report = ev.evaluate(services, ["trees"], n_folds=2)
    table = CalibrationTable.from_dict(report["models"]["trees"]["calibration"])
    assert table is not None and table.source["kind"] == "walk_forward" and table.n > 1_000
    assert table.source["first_day"] >= report["folds"][0]["test_start"]
    assert abs(spread(table)) < 0.02, table.rows()


# -- the learnable structure of the synthetic market shows as ordered deciles ------------------------------
def test_deciles_are_ordered_on_the_synthetic_market(tmp_path) -> None:
    from scipy.stats import spearmanr

    from kstock.market.store import MarketStore
    from kstock.market.synthetic import generate_market
    from kstock.ml.data import prepare_model_data
    from kstock.ml.evaluation.folds import walk_forward_folds
    from kstock.ml.evaluation.walkforward import run_folds
    from kstock.ml.trees import TreeParams, TreePredictor

    store = MarketStore(tmp_path / "s.db")
    store.ingest(generate_market(n_tickers=120, years=3, seed=1), source="t")
    settings = Settings.from_env({}, dotenv=None)
    data = prepare_model_data(store, settings)
    folds = walk_forward_folds(data.dates, 3, embargo=settings.label_horizon)
    oos = run_folds(lambda: TreePredictor(params=TreeParams(n_estimators=50), n_jobs=1), data, folds)
    days = np.concatenate([f.test_days() for f in folds])
    table = build_table(oos.score, data.panel, data.universe, days, horizon=settings.label_horizon,
                        min_traded_value=settings.min_traded_value)
    excess = np.array([b.mean_excess for b in table.bands])
    n = np.array([b.n for b in table.bands])
    pairs = [np.average(excess[i : i + 2], weights=n[i : i + 2]) for i in range(0, N_BANDS, 2)]
    assert (np.diff(pairs) > 0).all(), excess  # quintiles strictly ordered
    assert spearmanr(np.arange(N_BANDS), excess)[0] >= 0.9, excess
    assert excess[-1] > 0 > excess[0] and table.bands[-1].hit_rate > 0.5 > table.bands[0].hit_rate
