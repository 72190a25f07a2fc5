"""Sending to Telegram: every outgoing message of the bot goes through :class:`Delivery`.

- text is split to fit 4,096 characters (on line boundaries) and escaped for HTML, the one parse mode;
- 429 ``RetryAfter`` is honoured: wait the time Telegram asks for, then retry (twice at most, and
  never for more than ``max_wait`` seconds — a longer ban is the caller's problem);
- 403 ``Forbidden`` (the user blocked the bot, left or was deactivated) and "chat not found" mark
  the chat's subscription inactive with the reason and raise :class:`ChatUnreachable`;
- edits ignore Telegram's "message is not modified".

Why not python-telegram-bot's ``AIORateLimiter`` (tried against the fake Bot API, PTB 22.8, aiolimiter 1.3):
it paces every request that has a ``chat_id`` (chat actions and edits too) to 30/s and 20/min per group, so a
burst of twenty ``/analyze`` users (four requests each) queues behind the bucket; on a 429 it halts *every*
request of the bot for the whole ``retry_after`` with no upper bound (a 5 s ban on one chat held another
chat's reply 4.8 s), where this class waits only in that chat's call and gives a ban over ``max_wait`` back
to the caller (the push job retries later); and it logs a traceback at ERROR when it gives up. Blocked
chats, "chat not found" and "not modified" stay here either way, so it would not make this module shorter.
The push paces itself below Telegram's 30 messages/s with a :class:`~kstock.bot.pacing.RatePacer` passed
to :meth:`Delivery.send_text`: a 429 then holds the whole push for ``retry_after`` (not only one chat's call),
and the push retries a chat more often than a reply does (:data:`PUSH_RETRIES`) — it is never in a hurry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import InlineKeyboardMarkup, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from kstock.bot.pacing import RatePacer
from kstock.bot.security import anon
from kstock.bot.text import MAX_CAPTION, MAX_TEXT, PARSE_MODE, escape, split_text, truncate
from kstock.errors import KstockError

if TYPE_CHECKING:
    from telegram import Bot

    from kstock.bot.subscriptions import SubscriptionStore

log = logging.getLogger(__name__)
T = TypeVar("T")
#: 429 retries of one push message (a reply gives up after ``max_retries``; the push waits its turn).
PUSH_RETRIES = 8


class ChatUnreachable(Exception):
    """The chat can no longer receive messages (blocked, kicked, deleted); it was unsubscribed."""

    def __init__(self, chat_id: int, reason: str) -> None:
        super().__init__(reason)
        self.chat_id, self.reason = chat_id, reason


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds, read from its public ``retry_after``: a timedelta where ``PTB_TIMEDELTA``
    is set (``run_bot`` sets it), else PTB 22's deprecated int/float seconds, whose warning says nothing new here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _unreachable(exc: BadRequest) -> bool:
    return "chat not found" in exc.message.lower()


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


class Delivery:
    def __init__(self, subscriptions: SubscriptionStore | None = None, *, max_retries: int = 2,
                 max_wait: float = 60.0, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.subscriptions = subscriptions
        self.max_retries, self.max_wait, self.sleep = max_retries, max_wait, sleep
        self.push_retries = PUSH_RETRIES
        self.retries = 0  # RetryAfter waits taken (for /status and tests)

    async def call(self, chat_id: int, request: Callable[[], Awaitable[T]], pacer: RatePacer | None = None) -> T:
        """Run one Bot API request for ``chat_id`` with the RetryAfter and blocked-chat rules.

        With a ``pacer`` (the push) the caller has waited its turn for the first attempt (before claiming the
        chat in the push log, so a push stopped while waiting leaves nothing half-done); a retry waits its own
        turn, and a 429 holds the pacer's every sender."""
        attempt, retries = 0, self.max_retries if pacer is None else self.push_retries
        while True:
            try:
                if pacer is not None and attempt:
                    await pacer.wait()
                return await request()
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if attempt >= retries or wait > self.max_wait:
                    log.warning("flood control: giving up after %d retries (Telegram asks for %.0f s)", attempt, wait)
                    raise
                attempt += 1
                self.retries += 1
                log.info("flood control: waiting %.1f s as Telegram asks (retry %d/%d)", wait, attempt, retries)
                if pacer is not None:
                    pacer.hold(wait + 0.05)
                else:
                    await self.sleep(wait + 0.05)
            except Forbidden as exc:
                await self._gone(chat_id, f"blocked: {exc.message}")
                raise ChatUnreachable(chat_id, exc.message) from exc
            except BadRequest as exc:
                if _unreachable(exc):
                    await self._gone(chat_id, f"unreachable: {exc.message}")
                    raise ChatUnreachable(chat_id, exc.message) from exc
                raise

    async def _gone(self, chat_id: int, reason: str) -> None:
        log.info("%s cannot be reached (%s); unsubscribing it", anon(chat_id), reason)
        if self.subscriptions is not None:
            try:  # off the loop: a locked store must not freeze every chat
                await asyncio.to_thread(self.subscriptions.unsubscribe, chat_id, reason)
            except KstockError as exc:  # e.g. locked: the next message to it will try again
                log.warning("could not unsubscribe %s: %s", anon(chat_id), exc)

    async def send_text(self, bot: Bot, chat_id: int, text: str, *, reply_markup: InlineKeyboardMarkup | None = None,
                        reply_to: int | None = None, pacer: RatePacer | None = None) -> list[Message]:
        """Send plain ``text`` (escaped here), split into as many messages as it needs; the keyboard goes
        on the last piece, the reply reference on the first. With a ``pacer`` (see :meth:`call`) every piece
        after the first waits its turn."""
        pieces = [escape(p) for p in split_text(text, MAX_TEXT)]
        sent: list[Message] = []
        for i, piece in enumerate(pieces):
            markup = reply_markup if i == len(pieces) - 1 else None
            reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and i == 0 else None

            def request(piece: str = piece, markup: Any = markup, reply: Any = reply) -> Awaitable[Message]:
                return bot.send_message(chat_id, piece, parse_mode=PARSE_MODE, reply_markup=markup,
                                        reply_parameters=reply, disable_notification=False)

            if pacer is not None and i:
                await pacer.wait()
            sent.append(await self.call(chat_id, request, pacer))
        return sent

    async def send_photo(self, bot: Bot, chat_id: int, photo: bytes | str, caption: str | None = None,
                         *, reply_markup: InlineKeyboardMarkup | None = None) -> Message:
        """A photo (PNG bytes or a Telegram file_id) with a plain caption (escaped, cut to 1,024)."""
        shown = escape(truncate(caption, MAX_CAPTION)) if caption else None
        return await self.call(chat_id, lambda: bot.send_photo(chat_id, photo, caption=shown, parse_mode=PARSE_MODE,
                                                               reply_markup=reply_markup))

    async def edit_text(self, bot: Bot, chat_id: int, message_id: int, text: str,
                        reply_markup: InlineKeyboardMarkup | None = None) -> bool:
        """Replace a message's text (cut to fit one message); False when Telegram says nothing changed."""
        shown = escape(truncate(text, MAX_TEXT))
        try:
            await self.call(chat_id, lambda: bot.edit_message_text(shown, chat_id=chat_id, message_id=message_id,
                                                                   parse_mode=PARSE_MODE, reply_markup=reply_markup))
        except BadRequest as exc:
            if _not_modified(exc):
                return False
            raise
        return True
