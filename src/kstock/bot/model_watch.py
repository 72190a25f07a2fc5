"""The daily model check (job ``model_health``): expired models and a live record that fell out of range.

DESIGN §8: nothing stale is served silently, and a model that stopped working is noticed.

* a serving model past ``KSTOCK_MODEL_MAX_AGE`` (:mod:`kstock.service.model_age`) → each admin gets one
  alert per day;
* the live Rank IC's rolling mean (:mod:`kstock.service.live_ic`) falling below the walk-forward's 5th
  percentile → each admin gets one alert; when it comes back into range, one recovery note.

Every note goes through the push log (day, chat, kind), the same record that makes the daily push
at-most-once, so a restart or a second run the same day never repeats one; the live IC's last state
(``low``/``ok``) is kept in the store's ``meta`` so an alert is sent on the change, not every day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from telegram.error import TelegramError

from kstock.bot.delivery import ChatUnreachable
from kstock.market.repositories import meta
from kstock.ml.models import kind_label
from kstock.service.live_ic import LiveIC, live_ic, range_text
from kstock.service.model_age import ModelAge, expired

if TYPE_CHECKING:
    from telegram import Bot

    from kstock.bot.runtime import BotRuntime

log = logging.getLogger(__name__)

ADMIN_MODEL_AGE = "admin_model_age"
ADMIN_LIVE_IC_LOW = "admin_live_ic_low"
ADMIN_LIVE_IC_OK = "admin_live_ic_ok"
#: ``meta`` key of the live IC's last announced state: {"state": "low" | "ok", "day": ISO}.
LIVE_IC_STATE = "live_ic_alert"


async def run_model_health(rt: BotRuntime, bot: Bot, now: dt.datetime | None = None) -> dict[str, Any]:
    """Check the serving models' ages and the live IC; tell admins what changed. Returns what was sent."""
    now = now or rt.now()
    today = await rt.run_light(rt.services.today)
    done: dict[str, Any] = {}
    old = await rt.run_light(expired, rt.services, today)
    if old:
        done["expired"] = await tell_admins_once(rt, bot, now.date(), ADMIN_MODEL_AGE, expired_text(old, today))
    live = await rt.run_light(live_ic, rt.services)
    done["live_ic"] = await _live_ic_alert(rt, bot, live)
    return done


def expired_text(ages: list[ModelAge], today: dt.date) -> str:
    lines = [f"⚠️ 모델 만료 알림 ({today})"]
    for age in ages:
        lines.append(f"• {kind_label(age.name)}: {age.warning} (학습 데이터 마지막 날 {age.last_day}, "
                     f"한도 KSTOCK_MODEL_MAX_AGE={age.max_age}거래일)")
    lines.append("주간 재학습이 실패했거나 새 모델이 검증을 통과하지 못했습니다. `/retrain all`로 재학습하거나 "
                 "`/status`에서 최근 작업을 확인하세요.")
    return "\n".join(lines)


async def _live_ic_alert(rt: BotRuntime, bot: Bot, live: LiveIC) -> str | None:
    """Tell admins when the rolling live IC leaves (or re-enters) its expected range; None when nothing changed."""
    status, day = live.status, live.last_day
    if status == "unknown" or day is None:
        return None
    before = await rt.run_store(_state, rt) or "ok"  # never announced: in range
    if status == before:
        return None
    kind = ADMIN_LIVE_IC_LOW if status == "low" else ADMIN_LIVE_IC_OK
    _sent, failed = await tell_admins_once(rt, bot, dt.date.fromisoformat(day), kind, live_ic_text(live))
    if not failed:  # a failed note is released and tried again at the next check
        await rt.run_store(meta.put, rt.services.store, LIVE_IC_STATE, json.dumps({"state": status, "day": day}))
    return status


def _state(rt: BotRuntime) -> str | None:
    rows = dict(meta.with_prefix(rt.services.store, LIVE_IC_STATE))
    try:
        return json.loads(rows[LIVE_IC_STATE])["state"]
    except (KeyError, TypeError, ValueError):
        return None


def live_ic_text(live: LiveIC) -> str:
    rolling = f"{live.rolling:+.3f}" if live.rolling is not None else "-"
    if live.status == "low":
        head = f"🚨 실전 순위상관이 기대 범위 아래로 떨어졌습니다 ({live.last_day})"
        tail = "모델이 시장과 맞지 않게 되었을 수 있습니다: `/performance`로 확인하고 `/retrain all`을 검토하세요."
    else:
        head = f"✅ 실전 순위상관이 기대 범위로 돌아왔습니다 ({live.last_day})"
        tail = "경보를 해제합니다."
    return "\n".join([head, f"최근 {live.window}거래일 평균 Rank IC {rolling} · {range_text(live.expected)}", tail])


async def tell_admins_once(rt: BotRuntime, bot: Bot, day: dt.date, kind: str, text: str) -> tuple[int, int]:
    """Send ``text`` to each admin at most once for (``day``, ``kind``); returns (sent, failed)."""
    sent = failed = 0
    for admin in rt.settings.admin_ids:
        if not await rt.run_store(rt.subscriptions.claim_push, day, admin, kind=kind):
            continue
        try:
            await rt.delivery.send_text(bot, admin, text)
        except (ChatUnreachable, TelegramError) as exc:
            log.warning("could not send an admin the %s note: %s", kind, type(exc).__name__)
            await rt.run_store(rt.subscriptions.release_push, day, admin, kind=kind)
            failed += 1
            continue
        await rt.run_store(rt.subscriptions.finish_push, day, admin, "sent", kind=kind)
        sent += 1
    return sent, failed
