"""What a killed bot leaves behind, cleaned at the next start.

``kill -9`` (or a power cut) during an admin ``/retrain`` leaves two things: a ``.tmp-*`` folder in
the model directory (the version being saved) and the admin's progress message saying "진행 중"
forever. The progress message is remembered in the store's ``meta`` table while the retrain runs
(key ``retrain_progress:<chat>:<message>``, value: the owning process); at start, entries whose
process is gone get their message edited to say the run was interrupted, and the registry removes
temporary folders whose writer is gone (never those of a training running in another process).
"""

from __future__ import annotations

import json
import logging
import os

from telegram import Bot
from telegram.error import TelegramError

from kstock.bot.delivery import ChatUnreachable, Delivery
from kstock.bot.subscriptions import INTERACTIVE_WAIT
from kstock.errors import KstockError
from kstock.market.repositories import meta
from kstock.market.store import MarketStore
from kstock.ml.registry import ModelRegistry
from kstock.procs import pid_alive
from kstock.service.runs import this_host

log = logging.getLogger(__name__)

PREFIX = "retrain_progress:"
INTERRUPTED_TEXT = ("⚠️ 재학습이 중단되었습니다: 봇이 진행 중에 종료되었습니다. 서비스 중인 모델은 그대로입니다. "
                    "다시 하려면 /retrain 을 보내 주세요.")


def _key(chat_id: int, message_id: int) -> str:
    return f"{PREFIX}{chat_id}:{message_id}"


def remember_progress(store: MarketStore, chat_id: int, message_id: int) -> None:
    """Note a live progress message (best effort: a locked store only loses the note)."""
    owner = json.dumps({"host": this_host(), "pid": os.getpid()})
    try:
        meta.put(store, _key(chat_id, message_id), owner, wait=INTERACTIVE_WAIT)
    except KstockError as exc:
        log.warning("could not note the retrain progress message: %s", exc)


def forget_progress(store: MarketStore, chat_id: int, message_id: int) -> None:
    try:
        meta.delete(store, [_key(chat_id, message_id)], wait=INTERACTIVE_WAIT)
    except KstockError as exc:
        log.warning("could not clear the retrain progress note: %s", exc)


def stale_progress(store: MarketStore) -> list[tuple[int, int]]:
    """(chat, message) of progress messages whose process is gone, their notes removed."""
    stale = []
    for key, value in meta.with_prefix(store, PREFIX):
        try:
            owner = json.loads(value)
            chat, message = (int(x) for x in key[len(PREFIX):].split(":"))
        except (ValueError, TypeError):
            continue
        if owner.get("host") == this_host() and pid_alive(int(owner.get("pid", 0))):
            continue  # another live bot's retrain (a second instance is refused, but be safe)
        stale.append((chat, message))
    if stale:
        meta.delete(store, [_key(c, m) for c, m in stale])
    return stale


def clean_model_leftovers(registry: ModelRegistry) -> int:
    removed = registry.clean_leftovers()
    if removed:
        log.warning("removed %d temporary model folder(s) left by a stopped process", len(removed))
    return len(removed)


async def repair_progress_messages(delivery: Delivery, bot: Bot, stale: list[tuple[int, int]]) -> int:
    """Edit each stale progress message to say the retrain was interrupted; returns how many were edited."""
    edited = 0
    for chat_id, message_id in stale:
        try:
            await delivery.edit_text(bot, chat_id, message_id, INTERRUPTED_TEXT)
            edited += 1
        except (ChatUnreachable, TelegramError) as exc:
            log.warning("could not edit a stale retrain progress message: %s", type(exc).__name__)
    return edited
