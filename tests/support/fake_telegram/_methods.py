"""Bot API method table of the fake server: :meth:`BotApiMethods.handle` runs one call.

Each handler takes ``(params, uploads)`` already decoded by :mod:`._wire` and returns the ``result``
value or raises :class:`ApiError` / :class:`BadRequestError`. :meth:`BotApiMethods.handle` applies the
fault plans first, so handlers only implement the happy path plus the checks Telegram itself makes.
The handlers live by concern: :mod:`._bot_methods` (getMe, polling, webhooks, commands, getChat),
:mod:`._messages` (text, actions, callbacks, edits, deletes) and :mod:`._media` (photos, documents, files).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ._bot_methods import BotMethods
from ._media import MediaMethods
from ._state import JSON, ApiError
from ._wire import BadRequestError, Upload, as_chat_id

NOT_FOUND: JSON = {"ok": False, "error_code": 404, "description": "Not Found"}
_CHAT_TARGETED = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageCaption",
                            "editMessageReplyMarkup", "sendChatAction", "deleteMessage"})
Handler = Callable[[JSON, dict[str, Upload]], Any]


class BotApiMethods(MediaMethods, BotMethods):
    """The method table on top of the shared state; the HTTP server calls :meth:`handle` per request."""

    def __init__(self, token: str, *, require_png: bool = False, validate_markup: bool = True,
                 bot_username: str = "kstock_test_bot") -> None:
        super().__init__(token, bot_username)
        self.require_png = require_png
        self.validate_markup = validate_markup
        self._file_seq = itertools.count(1)
        table: dict[str, Handler] = {
            "getMe": self._get_me, "getUpdates": self._get_updates, "close": self._true, "logOut": self._true,
            "deleteWebhook": self._delete_webhook, "setWebhook": self._set_webhook,
            "getWebhookInfo": self._webhook_info, "setMyCommands": self._set_commands,
            "getMyCommands": self._get_commands, "deleteMyCommands": self._delete_commands,
            "sendMessage": self._send_message, "sendPhoto": self._send_photo, "sendDocument": self._send_document,
            "editMessageText": self._edit_text, "editMessageCaption": self._edit_caption,
            "editMessageReplyMarkup": self._edit_markup, "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback, "sendChatAction": self._chat_action,
            "getChat": self._get_chat, "getFile": self._get_file,
        }
        self._handlers = {name.lower(): (name, fn) for name, fn in table.items()}

    def handle(self, method: str, params: JSON, uploads: dict[str, Upload]) -> tuple[int, JSON]:
        """Run one API call (method names are case-insensitive, as on Telegram); returns (status, body)."""
        entry = self._handlers.get(method.lower())
        if entry is None:
            self._record_call(method, params, 404)
            return 404, dict(NOT_FOUND)
        name, handler = entry
        stall = self._take_delay(name)
        if stall:
            self._closing.wait(stall)
        try:
            chat_id = as_chat_id(params) if name in _CHAT_TARGETED and "chat_id" in params else None
            with self._cond:
                self._check_faults(name, params, chat_id)
            result = handler(params, uploads)
        except BadRequestError as exc:
            error = ApiError(400, f"Bad Request: {exc}")
        except ApiError as exc:
            error = exc
        else:
            self._record_call(name, params, 200)
            return 200, {"ok": True, "result": result}
        self._record_call(name, params, error.code)
        return error.code, error.payload()
