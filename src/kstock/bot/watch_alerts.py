"""The daily watchlist alert: after a day's scoring, one message per chat listing every watched stock
whose call changed — never one message per stock, never twice.

The push log (``push_log``, kind ``watch``) makes it at-most-once per (day, chat), exactly like the
signal push (:mod:`kstock.bot.subscriptions`): the row is claimed before sending, then marked ``sent``,
``blocked`` or ``unknown`` (a timeout: Telegram may have delivered it); only a definite failure
releases the claim so a later run that day may retry. Calling :func:`send_watch_alerts` again — a retry,
a catch-up after a restart — sends nothing to a chat that already has the day's alert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.error import TelegramError, TimedOut

from kstock.bot.delivery import ChatUnreachable
from kstock.bot.messages import signal_buttons
from kstock.service.presenters import CALL_ICON, CALL_KO, DISCLAIMER
from kstock.service.scoring import Signal
from kstock.service.watchlist import CallChange, call_changes, headlines

if TYPE_CHECKING:
    from telegram import Bot

    from kstock.bot.runtime import BotRuntime

log = logging.getLogger(__name__)

#: push_log kind of the watchlist alert (the signal push uses "signals").
WATCH_KIND = "watch"
#: Seconds between two alerts (Telegram allows ~30 messages/s overall).
ALERT_PACE_S = 0.05


@dataclass
class WatchAlertReport:
    date: str
    chats: int = 0  # chats with at least one change
    sent: int = 0
    already: int = 0  # had the day's alert already (a retry or a restart)
    blocked: int = 0
    failed: int = 0
    sent_to: list[int] = field(default_factory=list, repr=False)


def _call(label: str) -> str:
    return f"{CALL_KO.get(label, label)} ({label})"


def alert_text(date: str, changes: Sequence[CallChange], numbers: Mapping[str, str] | None = None) -> str:
    """One chat's alert: every change of the day, one line each (with its headline number when known)."""
    lines = [f"🔔 관심종목 판단 변경 · {date} 장 마감 기준"]
    for c in changes:
        lines.append(f"{CALL_ICON.get(c.after, '')} {c.name}({c.code}): {_call(c.before)} → {_call(c.after)}")
        if numbers and numbers.get(c.code):
            lines.append(f"   {numbers[c.code]}")
    lines += ["관심종목 보기: /watchlist · 삭제: /unwatch 종목명", DISCLAIMER]
    return "\n".join(lines)


def _buttons(changes: Sequence[CallChange], date: str):
    stocks = [Signal(c.code, c.name, c.after, c.probability, None, 0) for c in changes]
    return signal_buttons([s for s in stocks if s.label != "SELL"], [s for s in stocks if s.label == "SELL"], date)


async def send_watch_alerts(rt: BotRuntime, bot: Bot, date: str) -> WatchAlertReport:
    """Tell each chat whose watched stocks' calls changed on ``date`` (ISO, a scored day) — one message
    per chat, at most once per day across retries and restarts. Call it after the day's scoring."""
    day = dt.date.fromisoformat(date)
    report = WatchAlertReport(date)
    changes = await asyncio.to_thread(call_changes, rt.services.store, date)
    report.chats = len(changes)
    numbers = await asyncio.to_thread(headlines, rt.services, date) if changes else {}
    subs = rt.subscriptions
    for chat_id, changed in changes.items():
        if not await asyncio.to_thread(subs.claim_push, day, chat_id, WATCH_KIND):
            report.already += 1
            continue
        status = await _deliver(rt, bot, chat_id, alert_text(date, changed, numbers), _buttons(changed, date))
        if status == "failed":
            await asyncio.to_thread(subs.release_push, day, chat_id, WATCH_KIND)
            report.failed += 1
        else:
            await asyncio.to_thread(subs.finish_push, day, chat_id, status, WATCH_KIND)
            if status == "sent":
                report.sent += 1
                report.sent_to.append(chat_id)
            elif status == "blocked":
                report.blocked += 1
            else:
                report.failed += 1
        await asyncio.sleep(ALERT_PACE_S)
    log.info("watch alerts for %s: %d chats, %d sent, %d already, %d blocked, %d failed", date, report.chats,
             report.sent, report.already, report.blocked, report.failed)
    return report


async def _deliver(rt: BotRuntime, bot: Bot, chat_id: int, text: str, markup) -> str:
    """sent / blocked / unknown (timed out: maybe delivered, never repeated) / failed (certainly not)."""
    try:
        await rt.delivery.send_text(bot, chat_id, text, reply_markup=markup)
    except ChatUnreachable:
        return "blocked"
    except TimedOut:
        return "unknown"
    except TelegramError as exc:
        log.warning("watch alert to a chat failed: %s", type(exc).__name__)
        return "failed"
    return "sent"
