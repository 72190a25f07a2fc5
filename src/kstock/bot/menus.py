"""The command menu by audience: everyone sees the public commands; each admin's own chat also lists
``/retrain`` and ``/score`` (setMyCommands with a chat scope), so nobody is offered a command that would
only refuse them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from kstock.bot.messages import ADMIN_COMMANDS, PUBLIC_COMMANDS

log = logging.getLogger(__name__)


def _commands(pairs: Iterable[tuple[str, str]]) -> list[BotCommand]:
    return [BotCommand(name, text) for name, text in pairs]


async def register_menus(bot: Bot, admin_ids: Iterable[int]) -> int:
    """Register the default menu and one per admin chat; returns how many scopes were set.

    A failure (Telegram down, an admin who never opened the bot: "chat not found") is logged and skipped:
    the commands work without a menu.
    """
    done = 0
    try:
        await bot.set_my_commands(_commands(PUBLIC_COMMANDS), scope=BotCommandScopeDefault())
        done += 1
    except TelegramError as exc:
        log.warning("could not register the command menu (setMyCommands): %s", exc)
    for admin in admin_ids:
        try:
            await bot.set_my_commands(_commands(PUBLIC_COMMANDS + ADMIN_COMMANDS), scope=BotCommandScopeChat(admin))
            done += 1
        except TelegramError as exc:
            log.warning("could not register an admin's command menu: %s", type(exc).__name__)
    return done
