"""Everything a model sees, prepared once: panel, features, labels, universe, market index.

Models, the evaluator, scoring and ``analyze`` all take a :class:`ModelData`, so the features and
labels are computed in exactly one place and every model is scored on identical samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kstock.config import Settings
from kstock.errors import KstockError
from kstock.features.labels import Labels, build_labels
from kstock.features.tabular import FeatureCube, build_features, history_days
from kstock.market.market_series import market_level
from kstock.market.store import MarketStore
from kstock.market.tradability import buyable_at_close
from kstock.market.types import CLOSE, VOLUME, InstrumentKind, Panel, Ticker
from kstock.memo import Memo


class NoDataError(KstockError):
    """The store holds no usable prices for what was asked."""


@dataclass
class ModelData:
    panel: Panel
    features: FeatureCube
    labels: Labels
    universe: np.ndarray  # bool per ticker: common stocks (the only ones scored)
    market_close: np.ndarray | None  # KOSPI on panel.dates, past its end the universe's return (market_series)
    tickers: dict[str, Ticker]
    #: derived arrays, computed on first use and kept with the argument they were computed for (the data
    #: itself never changes: a data update makes a new ModelData)
    _buyable: Memo[np.ndarray] = field(default_factory=Memo, init=False, repr=False, compare=False)
    _extra: Memo[FeatureCube] = field(default_factory=Memo, init=False, repr=False, compare=False)
    _traded_value: Memo[dict[str, float]] = field(default_factory=Memo, init=False, repr=False, compare=False)

    @property
    def dates(self) -> np.ndarray:
        return self.panel.dates

    def day_mask(self, start: str | np.datetime64 | None = None, end: str | np.datetime64 | None = None) -> np.ndarray:
        mask = np.ones(len(self.dates), dtype=bool)
        if start is not None:
            mask &= self.dates >= np.datetime64(start, "D")
        if end is not None:
            mask &= self.dates <= np.datetime64(end, "D")
        return mask

    def buyable(self, min_traded_value: float) -> np.ndarray:
        """(tickers × days) what the book may buy at each day's close — the backtest's and the push's rule."""
        return self._buyable.get(min_traded_value,
                                 lambda: buyable_at_close(self.panel, self.universe, min_traded_value))

    def extra_features(self) -> FeatureCube:
        """The second named feature set (:mod:`kstock.features.extra`), computed on first use and kept:
        only a tree model trained with ``feature_set="extra"`` reads it."""
        from kstock.features.extra import build_extra_features

        return self._extra.get("extra", lambda: build_extra_features(self.panel, self.market_close))

    def traded_value(self, days: int) -> dict[str, float]:
        """code → average daily traded value (원) over the last ``days`` days, computed once per ``days``."""

        def compute() -> dict[str, float]:
            window = self.panel.ohlcv[:, -days:, :]
            value = np.nan_to_num(window[:, :, CLOSE] * window[:, :, VOLUME]).mean(axis=1)
            return dict(zip(self.panel.codes, value.tolist(), strict=True))

        return self._traded_value.get(days, compute)

    def sample_mask(self, days: np.ndarray, need_label: bool = True) -> np.ndarray:
        """(tickers × days) samples usable for training/evaluation: common, traded, labelled, in ``days``."""
        mask = self.universe[:, None] & days[None, :] & self.panel.traded
        mask &= np.isfinite(self.features.values).sum(axis=2) >= len(self.features.names) // 2
        if need_label:
            mask &= self.labels.valid
        return mask


def prepare_model_data(
    store: MarketStore,
    settings: Settings,
    start: str | np.datetime64 | None = None,
    end: str | np.datetime64 | None = None,
    codes: list[str] | None = None,
    dtype: type[np.floating] = np.float64,
) -> ModelData:
    """Load the panel, compute features and labels for the whole universe (vectorised, once).

    ``end`` defaults to the store's last complete day: rows of a partial or stray day ahead are not a day."""
    end = store.last_price_date() if end is None else end
    panel = store.load_panel(codes=codes, start=start, end=end, dtype=dtype)
    if not panel.codes or len(panel.dates) < 30:
        raise NoDataError("저장소의 가격 데이터가 너무 적습니다; `kstock data synth`나 `kstock data import`로 채우세요")
    tickers = {t.code: t for t in store.tickers()}
    universe = np.array([tickers.get(c) is not None and tickers[c].kind == InstrumentKind.COMMON
                         for c in panel.codes])
    # KOSPI, continued past its last day by the universe's own return — never a flat forward-fill
    market_close = market_level(store.load_index("KOSPI"), panel, universe)
    features = build_features(panel, market_close)
    labels = build_labels(panel, settings.label_horizon, settings.target_return, settings.buy_threshold,
                          settings.sell_threshold, universe=universe)
    return ModelData(panel, features, labels, universe, market_close, tickers)


#: Trading days the serving window holds beyond what its last day needs: the days it can score exactly.
SERVING_MARGIN_DAYS = 20


def serving_window_days(sequence_days: int = 1) -> int:
    """Trading days the serving path loads so that its last day's predictions equal the whole history's.

    Day t's features need :func:`~kstock.features.tabular.history_days` of history; a model reading
    ``sequence_days`` days of features (the LSTM's sequence, the sector model's window) needs them for
    each of those days; ``SERVING_MARGIN_DAYS`` more let the last few days be scored exactly too. The
    20-day traded value of the liquidity rule is well inside.
    """
    return history_days() + max(1, sequence_days) - 1 + SERVING_MARGIN_DAYS


def prepare_recent_data(store: MarketStore, settings: Settings, days: int,
                        end: str | np.datetime64 | None = None) -> ModelData:
    """Model data for the last ``days`` stored trading days up to ``end`` (default: the newest), as float32.

    What scoring, ``/analyze`` and the bot read: the cost depends on the window, not on how many years
    the store holds. The window starts where the store starts when the store is shorter.
    """
    last = store.last_price_date() if end is None else np.datetime64(end, "D")
    if last is None:
        raise NoDataError("저장소의 가격 데이터가 너무 적습니다; `kstock data synth`나 `kstock data import`로 채우세요")
    first = store.first_price_date()
    start = store.index_day_before(last, days)  # the index trades every session: its days say where to start
    span = int(days * 1.5) + 30  # else calendar days: ~246 KRX sessions a year
    while True:
        if start is None or start < first:
            start = max(last - np.timedelta64(span, "D"), first)
        data = prepare_model_data(store, settings, start=start, end=last, dtype=np.float32)
        if len(data.dates) >= days or start <= first:
            return data
        span, start = span + int((days - len(data.dates)) * 1.6) + 10, None  # a gap (long holidays): reach further
