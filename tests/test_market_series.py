"""A lagging market series is never forward-filled silently (issue 21, DESIGN §2).

Past the KOSPI index's last day the market features and the chart's comparison line use the universe's own
traded-value-weighted return, and say so (`data status`, /status, the chart); where the index exists the
features are exactly what they were (the trained models' inputs), and nothing reads ahead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kstock.config import Settings
from kstock.features.tabular import FEATURE_NAMES
from kstock.market.completeness import series_lag
from kstock.market.dates import iso
from kstock.market.market_series import universe_returns
from kstock.market.store import MarketStore
from kstock.ml.data import prepare_model_data

REL = [FEATURE_NAMES.index("rel_market_5d"), FEATURE_NAMES.index("rel_market_20d")]


def _cut_index(store: MarketStore, keep_until: int) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM index_prices WHERE date > ?", (keep_until,))


def _check_series(store: MarketStore, cut: str, start: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The features where the index exists equal those computed with the prices ending at its last day (so
    unchanged, and nothing after a day reaches it); past it the market moves. Returns (market, after mask)."""
    settings = Settings.from_env({}, dotenv=None)
    whole = prepare_model_data(store, settings, start=start)
    until_cut = prepare_model_data(store, settings, start=start, end=cut)
    before = whole.dates <= np.datetime64(cut)
    assert np.array_equal(whole.dates[before], until_cut.dates)
    np.testing.assert_array_equal(whole.features.values[:, before], until_cut.features.values)
    np.testing.assert_array_equal(whole.market_close[before], until_cut.market_close)
    after = ~before
    market = whole.market_close[after]
    assert np.isfinite(market).all() and np.unique(market).size == after.sum()  # a moving line, never flat
    # the market-relative features are the stock's return less a moving market, not less zero
    rel5 = whole.features.values[:, after, REL[0]]
    ret5 = whole.features.values[:, after, FEATURE_NAMES.index("ret_5d")]
    assert np.nanmax(np.abs(rel5 - ret5)) > 1e-3
    return whole.market_close, after


def test_past_the_index_the_market_goes_on_with_the_universe(tmp_path: Path) -> None:
    from kstock.market.synthetic import generate_market

    store = MarketStore(tmp_path / "s.db")
    store.ingest(generate_market(n_tickers=40, years=1.5, seed=1), source="t")
    days = store.load_index("KOSPI").index
    cut = days[-11]
    _cut_index(store, int(cut.strftime("%Y%m%d")))
    market, after = _check_series(store, str(cut.date()))
    lag = next(s for s in series_lag(store) if s.name == "KOSPI")
    assert lag.sessions == 10
    assert "KOSPI 지수가 10거래일 늦음" in lag.describe() and "종목 전체" in lag.describe()
    # the continued level is the universe's return, compounded from the index's last close
    data = prepare_model_data(store, Settings.from_env({}, dotenv=None))
    r = universe_returns(data.panel, data.universe)
    steps = market[after] / market[np.flatnonzero(after) - 1] - 1
    np.testing.assert_allclose(steps, r[after], rtol=1e-9)


def test_status_and_chart_say_the_index_lags(workspace) -> None:
    from kstock.bot.messages import status_text
    from kstock.service.chart_data import chart_extras
    from kstock.service.status import service_status

    _, services = workspace
    last = services.store.conn.execute("SELECT MAX(date) FROM index_prices WHERE date < "
                                       "(SELECT MAX(date) FROM index_prices) - 3").fetchone()[0]
    _cut_index(services.store, last)
    status = service_status(services)
    (note,) = [n for n in status["data_notes"] if "KOSPI" in n]
    assert "거래일 늦음" in note and "종목 전체" in note
    assert note in status_text(status, admin=True)
    assert note not in status_text(status, admin=False)
    data = services.model_data()
    code = next(c for c in data.panel.codes if data.panel.traded[data.panel.index_of(c), -1])
    extras = chart_extras(services.store, data, code, len(data.dates) - 1)
    lagging = int((data.dates > np.datetime64(iso(last))).sum())
    assert lagging >= 2 and f"KOSPI 지수가 {lagging}거래일 늦음" in extras["market_note"]
    assert np.ptp(extras["market"].iloc[-lagging - 1:].to_numpy()) > 0  # the line moves past the index's end


def test_a_current_index_says_nothing(workspace) -> None:
    from kstock.service.chart_data import chart_extras
    from kstock.service.status import service_status

    _, services = workspace
    assert not [n for n in service_status(services)["data_notes"] if "KOSPI" in n]
    data = services.model_data()
    assert "market_note" not in chart_extras(services.store, data, data.panel.codes[0], len(data.dates) - 1)


@pytest.fixture(scope="module")
def real_store(krx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    from kstock.market.csv_import import import_directory

    store = MarketStore(tmp_path_factory.mktemp("real") / "real.db")
    import_directory(store, krx_dir / "kospi_2020_2026", tickers_file=krx_dir / "tickers.csv",
                     sectors_file=krx_dir / "krx_industry_2021-12.csv",
                     index_files={"KOSPI": krx_dir / "index" / "kospi.csv"}, progress=False)
    return store


@pytest.mark.realdata
@pytest.mark.slow
def test_real_features_after_the_index_ends_are_not_flat(real_store: MarketStore) -> None:
    """kospi_2020_2026 runs to 2026-05-29, the KOSPI file ends 2026-03-20."""
    _, after = _check_series(real_store, "2026-03-20", start="2025-06-01")
    assert after.sum() == 47
    lag = next(s for s in series_lag(real_store) if s.name == "KOSPI")
    assert (lag.last_date, lag.prices_last, lag.sessions) == ("2026-03-20", "2026-05-29", 47)


@pytest.mark.realdata
def test_real_universe_return_tracks_kospi_where_both_exist(real_store: MarketStore) -> None:
    """The substitute is checked against the index: daily correlation at least 0.85 over 2020–2026 (measured
    0.906; the equal-weighted mean reaches 0.837)."""
    data = prepare_model_data(real_store, Settings.from_env({}, dotenv=None), end="2026-03-20")
    ours = universe_returns(data.panel, data.universe)
    kospi = data.market_close[1:] / data.market_close[:-1] - 1
    both = np.isfinite(ours[1:]) & np.isfinite(kospi)
    assert np.corrcoef(ours[1:][both], kospi[both])[0, 1] >= 0.85


@pytest.mark.realdata
def test_real_data_status_names_the_lag(real_store: MarketStore, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str], clean_env) -> None:
    from kstock.cli import main

    monkeypatch.setenv("KSTOCK_DB", str(real_store.path))
    assert main(["data", "status"]) == 0
    assert "KOSPI 지수가 47거래일 늦음" in capsys.readouterr().out
