"""One list of commands (kstock.bot.messages.COMMAND_LIST): every command in it has a handler, the menus and
/help are built from it, and no handler answers a command the list does not name."""

from __future__ import annotations

from telegram.ext import Application, CommandHandler

from kstock.bot import messages
from kstock.bot.handlers import command_callbacks, register_handlers


def test_every_listed_command_is_handled_and_nothing_else() -> None:
    app = Application.builder().token("123:abc").build()
    register_handlers(app)
    handled = [c for handlers in app.handlers.values() for h in handlers if isinstance(h, CommandHandler)
               for c in h.commands]
    names = [c.name for c in messages.COMMAND_LIST]
    assert sorted(handled) == sorted(names) and len(set(names)) == len(names)
    assert set(command_callbacks()) == set(names)


def test_menus_and_help_come_from_the_list() -> None:
    public = [c for c in messages.COMMAND_LIST if not c.admin]
    admin = [c for c in messages.COMMAND_LIST if c.admin]
    assert tuple((c.name, c.menu) for c in public) == messages.PUBLIC_COMMANDS
    assert messages.PUBLIC_COMMANDS + tuple((c.name, c.menu) for c in admin) == messages.COMMANDS
    user_help, admin_help = messages.help_text(), messages.help_text(admin=True)
    for c in public:
        assert (f"{c.usage} — {c.help}" in user_help) == bool(c.help)  # /start and /help need no line
    assert "/retrain" not in user_help and "/score" not in user_help
    assert all(c.usage in admin_help for c in admin)
    assert "/retrain [lstm|trees|sector|all]" in admin_help  # the kinds table's targets
