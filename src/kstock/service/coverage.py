"""What the daily loop records and says when the day it is for did not arrive whole (DESIGN §2).

A day whose rows cover less than ``KSTOCK_MIN_COVERAGE`` of the active universe (a partial drop folder, one
stray row) is not the store's last trading day (:mod:`kstock.market.completeness`), so the loop finds the
data stale and publishes nothing; this module adds *why* to that record — the coverage and a few missing
names — so `kstock daily` names it and each admin reads it in the one stale-day alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kstock.market.completeness import trailing_incomplete

if TYPE_CHECKING:
    from kstock.service.context import Services
    from kstock.service.daily import Freshness


def stale_record(services: Services, day: str, fresh: Freshness) -> tuple[dict[str, Any], str]:
    """(metrics, reason) of a stale scoring for ``day``: with the day's coverage when rows for it arrived but
    not enough of them (recorded under ``metrics["coverage"]``)."""
    metrics: dict[str, Any] = {"data_date": fresh.data_date, "behind": fresh.behind}
    # only the days after the last complete one (cached, cheap): a day with no row at all is plain stale
    coverage = next((c for c in trailing_incomplete(services.store) if c.day == day), None)
    if coverage is None:
        return metrics, f"데이터가 {day}에 미치지 못함 (기준일 {fresh.data_date})"
    names = {t.code: t.name for t in services.store.tickers()}
    metrics["coverage"] = coverage.as_dict()
    return metrics, (f"{day} 데이터 불완전: {coverage.describe(names)} — 채점·발행하지 않음 "
                     f"(마지막 완전한 거래일 {fresh.data_date})")
