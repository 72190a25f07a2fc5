"""What is serving and how fresh it is: `kstock models`, `/model`, `/status`, `kstock data status`."""

from __future__ import annotations

from typing import Any

from kstock.market.freshness import data_age, describe_age
from kstock.market.repositories.meta import last_update
from kstock.market.store_summary import bad_rows_line, cached_bad_rows, completeness_lines, completeness_summary
from kstock.ml.models import known_kinds
from kstock.service import runs
from kstock.service.context import Services
from kstock.service.daily import freshness
from kstock.service.model_age import model_age
from kstock.service.scoring import last_scored_date
from kstock.service.serving import ensemble_weights


def models_status(services: Services) -> list[dict[str, Any]]:
    """One row per model kind: serving version, age, data range, validation metrics — or why unavailable."""
    rows = []
    today = services.today()
    for name in known_kinds():
        serving = services.serving(name)
        version = serving.version
        age = model_age(services, name, version, today) if serving.model is not None else None
        rows.append({
            "name": name,
            "available": serving.model is not None,
            "reason": serving.reason,
            "version": version.version if version else None,
            "trained_at": version.trained_at if version else None,
            "age_days": round(version.age_days(), 2) if version and version.age_days() is not None else None,
            "data_range": version.meta.get("data_range") if version else None,
            "validation": version.meta.get("validation") if version else None,
            "versions_on_disk": services.registry.versions(name),
            # trading days since the last day of its training data, and whether past KSTOCK_MODEL_MAX_AGE
            "age_trading_days": age.trading_days if age else None,
            "max_age_trading_days": services.settings.model_max_age,
            "expired": bool(age and age.expired),
        })
    shares = ensemble_shares(ensemble_weights(services), [r["name"] for r in rows if r["available"]])
    for row in rows:
        row["ensemble_share"] = shares.get(row["name"])
    return rows


def ensemble_shares(weights: dict[str, float], available: list[str]) -> dict[str, float]:
    """Each available model's share of the served call (its weight over the available members' total), so
    a user sees which models decide and which are shown for reference only (share 0)."""
    total = sum(weights.get(name, 0.0) for name in available)
    if total <= 0:  # only zero-weight members: they share the call equally (ensemble.combine)
        return {name: 1 / len(available) for name in available} if available else {}
    return {name: weights.get(name, 0.0) / total for name in available}


def service_status(services: Services, checks: bool = False) -> dict[str, Any]:
    """Data freshness, last scoring, last job runs; with ``checks`` (an admin's /status) also the count of
    stored rows that break the row rule and `data status`' line about it (counted once per data version)."""
    today = services.today()  # the source's clock (simulated for synthetic)
    last, age = data_age(services.store, today)
    fresh = freshness(services, today)
    return {
        "data_last_date": last,
        "data_age_days": age,
        "data_age": describe_age(services.store, today),
        "source": services.settings.data_source,
        "today": fresh.today,
        "data_behind_trading_days": fresh.behind,
        "data_warning": fresh.warning(),
        "last_update": last_update(services.store),
        "last_scored": last_scored_date(services),
        "runs": [r.__dict__ for r in runs.last_runs(services.store, limit=8)],
        "data_notes": completeness_lines(completeness_summary(services.store)),  # index lag, partial days
        **(_checks(services) if checks else {}),
    }


def _checks(services: Services) -> dict[str, Any]:
    bad = cached_bad_rows(services.store)
    return {"bad_rows": bad, "check_line": bad_rows_line(bad)}
