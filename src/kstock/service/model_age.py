"""How old each serving model's data is, in trading days, and whether it is past ``KSTOCK_MODEL_MAX_AGE``
(DESIGN §8: nothing stale is served silently).

A model's age counts the KRX trading days after the last day of the data its training run used
(``meta.data_range[1]``) up to the source's today. That is the day the run's validation window ends; the
fit itself stops one held-out window and an embargo earlier (:func:`kstock.service.retrain.validation_split`)
for every version alike, so counting from there would make even a fresh model look months old. The
weekly retrain renews it every five trading days; a retrain the gate refused keeps the old version —
which then ages, and is flagged once it is past the limit.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from kstock.market.calendar import TradingCalendar
from kstock.ml.registry import ModelVersion
from kstock.service.context import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelAge:
    name: str
    last_day: str  # the last day of the data the version was trained with (ISO)
    trading_days: int  # trading days after it, up to today
    max_age: int

    @property
    def expired(self) -> bool:
        return self.trading_days > self.max_age

    @property
    def warning(self) -> str:
        """The line users and admins read under an expired model ("" while it is fresh)."""
        return age_warning(self.trading_days) if self.expired else ""


def age_warning(trading_days: int) -> str:
    return f"⚠️ {trading_days}거래일 전 데이터로 학습한 모델"


def model_age(services: Services, name: str, version: ModelVersion | None,
              today: dt.date | None = None) -> ModelAge | None:
    """The age of ``version`` (None without a version or a readable data range)."""
    if version is None:
        return None
    rng = version.meta.get("data_range")
    try:
        last = dt.date.fromisoformat(str(rng[1])[:10])
    except (TypeError, IndexError, ValueError):
        return None
    today = today or services.today()
    days = TradingCalendar.from_store(services.store).trading_days_between(last, today)
    return ModelAge(name, last.isoformat(), days, services.settings.model_max_age)


def serving_ages(services: Services, today: dt.date | None = None) -> dict[str, ModelAge]:
    """The age of every kind that serves now (by name)."""
    today = today or services.today()
    out = {}
    for name, serving in services.all_serving().items():
        if serving.model is None:
            continue
        age = model_age(services, name, serving.version, today)
        if age is not None:
            out[name] = age
    return out


def expired(services: Services, today: dt.date | None = None) -> list[ModelAge]:
    """The serving models past ``KSTOCK_MODEL_MAX_AGE``."""
    return [age for age in serving_ages(services, today).values() if age.expired]
