"""The Telegram bot: python-telegram-bot 22 over the service layer.

Layout (one concern per module):

- :mod:`.app` — building the :class:`~telegram.ext.Application`, startup/shutdown, ``run_bot``;
- :mod:`.runtime` — :class:`BotRuntime`, the state every handler and job shares;
- :mod:`.handlers` — the commands and inline buttons;
- :mod:`.jobs` — the scheduled jobs (Asia/Seoul) and their next run times;
- :mod:`.delivery` — sending: splitting, escaping, RetryAfter, blocked users;
- :mod:`.charts` — chart pictures drawn in worker processes, cached;
- :mod:`.security` — admins, allowed chats, rate limit, input limits, token redaction, instance lock;
- :mod:`.subscriptions` — subscriptions and the push log in the store;
- :mod:`.text` — HTML escaping and message splitting.
"""

from kstock.bot.app import build_application, run_bot
from kstock.bot.runtime import BotRuntime

__all__ = ["BotRuntime", "build_application", "run_bot"]
