"""Numbers and times the way Korean investors read them: 원, 만/억/조, signed %, KST.

Shared by the chat texts and the chart axes, so a volume reads "1,234만" in both and a traded value
"3.2조원" rather than "3.2T". Pure functions; Seoul time is the market's one ``SEOUL`` zone.
"""

from __future__ import annotations

import datetime as dt

from kstock.market.freshness import SEOUL

_UNITS = ((1e12, "조"), (1e8, "억"), (1e4, "만"))


def won(value: float | None) -> str:
    """71300 → ``71,300원``."""
    return "-" if value is None else f"{value:,.0f}원"


def man_eok(value: float | None, unit: str = "") -> str:
    """A large count in 만/억/조: 12_345_678 → ``1,235만``, 3.2e12 → ``3.2조``, 950 → ``950``.

    Three significant figures at most, so an axis label or a chat line stays short; ``unit`` is
    appended (``원``, ``주``).
    """
    if value is None:
        return "-"
    size = abs(value)
    for scale, name in _UNITS:
        if size >= scale:
            shown = value / scale
            text = f"{shown:,.0f}" if abs(shown) >= 100 else f"{shown:,.1f}".rstrip("0").rstrip(".")
            return f"{text}{name}{unit}"
    return f"{value:,.0f}{unit}"


def pct(value: float | None, digits: int = 1) -> str:
    """0.0123 → ``+1.2%``."""
    return "-" if value is None else f"{value * 100:+.{digits}f}%"


def kst(moment: str | dt.datetime | None) -> str:
    """An ISO timestamp (UTC or any zone; naive = UTC, as the store writes them) → ``2025-10-10 16:10``
    Korean time."""
    if moment is None or moment == "":
        return "-"
    when = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M")
