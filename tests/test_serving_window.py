"""The recent-window serving path (issue 15): scoring, /analyze and the bot read only the days the
serving models need, and their predictions for the scored day equal those made on the whole history."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kstock.features.tabular import history_days
from kstock.market.store import MarketStore
from kstock.market.synthetic import generate_market
from kstock.ml.data import SERVING_MARGIN_DAYS, ModelData, prepare_model_data, serving_window_days
from kstock.ml.models import create_model, torch_available
from kstock.service.context import Services
from kstock.service.predict import predict_day
from support.workspace import fast_tree_options, synth_settings


def _promote(services: Services, name: str, model) -> None:
    version = services.registry.save(name, model.save, {"validation": {}})
    services.registry.promote(version)
    services.forget_model(name)


def _train_days(data: ModelData) -> np.ndarray:
    days = np.zeros(len(data.dates), dtype=bool)
    days[: len(data.dates) - 10] = True
    return days


@pytest.fixture(scope="module")
def long_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 tickers × 3 years (longer than the serving window) with every model kind trained and serving."""
    root = tmp_path_factory.mktemp("window")
    store = MarketStore(root / "s.db")
    store.ingest(generate_market(n_tickers=40, years=3.0, seed=5), source="t")
    services = Services(synth_settings(root), store)
    data = prepare_model_data(store, services.settings)
    trees = create_model("trees", services.settings, **fast_tree_options())
    trees.fit(data, _train_days(data))
    _promote(services, "trees", trees)
    _serve_tiny_deep_models(services, data, _train_days(data))
    services.close()
    return root


def _serve_tiny_deep_models(services: Services, data: ModelData, train_days: np.ndarray) -> None:
    """A tiny LSTM and sector model trained and served (when torch is here): the window's exactness is a
    property of the code path, not of the model's size."""
    if not torch_available():
        return
    from kstock.ml.lstm.data import LSTMParams
    from kstock.ml.sector.config import SectorConfig

    lstm = create_model("lstm", services.settings, params=LSTMParams(
        hidden_size=8, samples_per_epoch=512, batch_size=256, max_val_samples=500, max_epochs=1, patience=1,
        n_threads=1, time_budget_s=None), seed=3, progress_bar=False)
    lstm.fit(data, train_days)
    _promote(services, "lstm", lstm)
    config = SectorConfig(img_size=32, d_model=16, n_heads=2, n_layers=1, batch_size=32, samples_per_epoch=64,
                          phase2_samples_per_sector=8, phase1_epochs=1, phase2_epochs=1, phase3_epochs=1,
                          val_max_samples=32, patience=5, infer_batch=256, seed=3)
    sector = create_model("sector", services.settings, config=config, checkpoint_dir=False)
    sector.fit(data, train_days)
    _promote(services, "sector", sector)


@pytest.fixture
def services(long_market: Path):
    s = Services(synth_settings(long_market))
    yield s
    s.close()


def _whole(services: Services) -> ModelData:
    """The whole history as the serving path reads it (float32 prices)."""
    return prepare_model_data(services.store, services.settings, dtype=np.float32)


#: Torch models see the window's rows and the whole history's in different batches, so their float32
#: matrix products add in another order (BLAS blocking, CPU features): the same model on the same inputs
#: agrees to a few ulps, not to the bit (one sector output of 948 was off by 2.98e-08 on another CPU).
#: A wrong window (a day off, a missing row) moves outputs by far more than this.
TORCH_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def _assert_same_outputs(name: str, window: np.ndarray, whole: np.ndarray, *, exact: bool) -> None:
    """The trees walk the same splits on the same float32 features row by row (``exact``): equal to the bit.
    Outputs a torch model took part in are equal within :data:`TORCH_TOLERANCE`."""
    if exact:
        np.testing.assert_array_equal(window, whole, err_msg=name)
    else:
        np.testing.assert_allclose(window, whole, err_msg=name, **TORCH_TOLERANCE)


def _assert_same_day(services: Services, window: ModelData, w_day: int, whole: ModelData, h_day: int) -> None:
    assert window.dates[w_day] == whole.dates[h_day]
    rows = np.array([whole.panel.index_of(c) for c in window.panel.codes])
    a = predict_day(services, w_day, window)
    b = predict_day(services, h_day, whole)
    assert set(a.versions) == set(b.versions) == {n for n, s in services.all_serving().items() if s.model}
    for name in a.versions:
        out, other = a.members[name], b.members[name]
        assert out is not None and other is not None, name
        assert np.isfinite(out.score).sum() >= 10, name
        _assert_same_outputs(name, out.score[:, 0], other.score[rows, 0], exact=name == "trees")
        _assert_same_outputs(name, out.probability[:, 0], other.probability[rows, 0], exact=name == "trees")
    _assert_same_outputs("ensemble", a.ensemble.score[:, 0], b.ensemble.score[rows, 0],
                         exact=set(a.versions) == {"trees"})
    assert list(a.labels) == list(b.labels[rows])
    # nobody the whole history scores is missing from the window
    assert np.isfinite(b.ensemble.score[:, 0]).sum() == np.isfinite(a.ensemble.score[:, 0]).sum()


def test_the_window_is_sized_from_the_features_and_the_serving_models(services: Services) -> None:
    served = [s.model for s in services.all_serving().values() if s.model is not None]
    longest = max(getattr(m, "history_days", 1) for m in served)
    data = services.model_data()
    assert len(data.dates) >= serving_window_days(longest) == history_days() + longest - 1 + SERVING_MARGIN_DAYS
    stored = len(_whole(services).dates)
    assert len(data.dates) < stored  # really a window: the store holds more
    assert data.dates[-1] == services.store.last_price_date()
    assert data.panel.ohlcv.dtype == np.float32 and data.features.values.dtype == np.float32
    assert services.model_data() is data  # cached until the store changes


def test_window_predictions_equal_the_whole_history_for_every_model(services: Services) -> None:
    window, whole = services.model_data(), _whole(services)
    for back in (0, SERVING_MARGIN_DAYS):  # the last day and the oldest day the window scores exactly
        _assert_same_day(services, window, len(window.dates) - 1 - back, whole, len(whole.dates) - 1 - back)


def test_an_older_day_gets_a_window_of_its_own(services: Services) -> None:
    whole = _whole(services)
    h_day = len(whole.dates) - 200
    day = str(whole.dates[h_day])
    past = services.model_data(day)
    assert past.dates[-1] == whole.dates[h_day] and past is not services.model_data()
    assert services.model_data(day) is past  # kept for the analysis' chart and reasons
    _assert_same_day(services, past, len(past.dates) - 1, whole, h_day)
    # a day inside the recent window's exact days is served from it
    recent = services.model_data()
    assert services.model_data(str(recent.dates[-3])) is recent


def test_float32_features_equal_float64_ones_of_the_same_prices(services: Services) -> None:
    """Serving reads float32 prices; the features are computed in float64 either way (volumes over 2^24
    shares are the one place float32 rounds a stored value)."""
    store = services.store
    f32 = prepare_model_data(store, services.settings, dtype=np.float32)
    f64 = prepare_model_data(store, services.settings)
    exact = f32.panel.ohlcv[..., :4].astype(np.float64)
    np.testing.assert_array_equal(exact, f64.panel.ohlcv[..., :4])
    big_volume = (f64.panel.ohlcv[..., 4] >= 2**24).any(axis=1)
    same = ~big_volume
    np.testing.assert_array_equal(f32.features.values[same], f64.features.values[same])
    np.testing.assert_array_equal(f32.labels.forward_return, f64.labels.forward_return)


def test_a_windowed_read_is_the_whole_read_sliced(services: Services) -> None:
    store = services.store
    whole = store.load_panel()
    start = whole.dates[-100]
    part = store.load_panel(start=start)
    rows = [whole.index_of(c) for c in part.codes]
    np.testing.assert_array_equal(part.ohlcv, whole.ohlcv[rows][:, -100:])
    assert set(whole.codes) - set(part.codes) == {c for i, c in enumerate(whole.codes)
                                                  if np.isnan(whole.ohlcv[i, -100:, 3]).all()
                                                  and not whole.halted[i, -100:].any()}
    assert store.price_codes() == whole.codes
    assert store.first_price_date() == whole.dates[0] and store.last_price_date() == whole.dates[-1]


def test_training_reads_at_most_the_configured_years(long_market: Path, tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    shutil.copy2(long_market / "s.db", root / "s.db")
    services = Services(synth_settings(root).with_overrides(train_years=1.0))
    try:
        data = services.training_data()
        last = services.store.last_price_date()
        assert data.dates[-1] == last
        assert data.dates[0] >= last - np.timedelta64(366, "D") and len(data.dates) > 200
        assert data.panel.ohlcv.dtype == np.float64
        everything = Services(synth_settings(root).with_overrides(train_years=0.0))
        assert len(everything.training_data().dates) == len(services.history_data().dates) > len(data.dates)
        everything.close()
    finally:
        services.close()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_window_predictions_equal_the_whole_history(krx_dir: Path, tmp_path: Path) -> None:
    """On kospi_2020_2026 (6.4 years): every serving model's last-day outputs from the window equal the whole
    history's (trees, and with torch a small LSTM and sector model)."""
    from kstock.market.csv_import import import_directory

    store = MarketStore(tmp_path / "real.db")
    import_directory(store, krx_dir / "kospi_2020_2026", tickers_file=krx_dir / "tickers.csv",
                     sectors_file=krx_dir / "krx_industry_2021-12.csv",
                     index_files={"KOSPI": krx_dir / "index" / "kospi.csv"}, progress=False)
    services = Services(synth_settings(tmp_path), store)
    try:
        whole = _whole(services)
        trees = create_model("trees", services.settings, **fast_tree_options())
        train = np.zeros(len(whole.dates), dtype=bool)
        train[len(whole.dates) - 500 : len(whole.dates) - 10] = True
        trees.fit(whole, train)
        _promote(services, "trees", trees)
        _serve_tiny_deep_models(services, whole, train)
        window = services.model_data()
        assert len(window.dates) < len(whole.dates)
        _assert_same_day(services, window, len(window.dates) - 1, whole, len(whole.dates) - 1)
    finally:
        services.close()


def test_the_days_shap_matrix_equals_one_row_at_a_time(services: Services) -> None:
    """/analyze reads a ticker's TreeSHAP reasons from the day's matrix, computed once for everyone."""
    from kstock.service.analyze import shap_reasons

    data = services.model_data()
    trees = services.serving("trees").model
    day = len(data.dates) - 1
    x = trees.day_rows(data, day)  # the model's feature set (the 30, or with the extra ones)
    matrix = trees.contributions_matrix(x)
    rows = np.flatnonzero(np.isfinite(x).any(axis=1))[:15]
    for i in rows:
        np.testing.assert_array_equal(matrix[i], trees.contributions(x[i]))
    pred = predict_day(services, day, data)
    first = shap_reasons(services, pred, int(rows[0]), data)
    assert [r.feature for r in first] == [trees.feature_names[j] for j in np.argsort(np.abs(matrix[rows[0]]))[::-1][:3]]
    assert any(k[0] == "trees-shap" for k in services.day_cache)  # cached for the next request


def test_the_window_is_read_back_from_disk_until_the_store_changes(long_market: Path, tmp_path: Path) -> None:
    """A cold process (a `kstock analyze` after the day's scoring) reads the window the scoring computed."""
    from kstock.ml import window_cache

    root = tmp_path / "c"
    root.mkdir()
    shutil.copy2(long_market / "s.db", root / "s.db")
    shutil.copytree(long_market / "models", root / "models")
    first = Services(synth_settings(root))
    computed = first.model_data()
    path = window_cache.cache_path(first.store)
    assert path.exists()
    second = Services(synth_settings(root))
    read = second.model_data()
    for a, b in ((computed.features.values, read.features.values), (computed.panel.ohlcv, read.panel.ohlcv),
                 (computed.labels.rank, read.labels.rank), (computed.universe, read.universe)):
        np.testing.assert_array_equal(a, b)
    assert read.panel.codes == computed.panel.codes and read.tickers.keys() == computed.tickers.keys()
    day = len(read.dates) - 1
    np.testing.assert_array_equal(predict_day(second, day).ensemble.score, predict_day(first, day).ensemble.score)
    # a data update changes the key: the next process computes the window again
    days = serving_window_days(first.sequence_days())
    assert window_cache._read(path, window_cache.cache_key(first.store, first.settings, days), first.store)
    first.store.log_update("test", 0, "ok")
    assert window_cache._read(path, window_cache.cache_key(first.store, first.settings, days), first.store) is None
    path.write_bytes(b"not an npz")  # a damaged file is a miss, never an error
    third = Services(synth_settings(root))
    np.testing.assert_array_equal(third.model_data().features.values, computed.features.values)
    for s in (first, second, third):
        s.close()
