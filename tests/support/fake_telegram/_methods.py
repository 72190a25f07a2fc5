"""Bot API method handlers of the fake server, with Telegram's validation and error texts.

Each handler takes ``(params, uploads)`` already decoded by :mod:`._wire` and returns the ``result``
value or raises :class:`ApiError` / :class:`BadRequestError`. :meth:`BotApiMethods.handle` applies the
fault plans first, so handlers only implement the happy path plus the checks Telegram itself makes.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from typing import Any

from ._markup import check_entities, visible_length
from ._state import JSON, ApiError, FakeTelegramState, SentRecord
from ._wire import BadRequestError, Upload, as_bool, as_chat_id, as_int, as_json, as_text, png_size

MAX_POLL_SECONDS = 10.0  # caps getUpdates long polling so a forgotten poller never pins a thread long
NOT_FOUND: JSON = {"ok": False, "error_code": 404, "description": "Not Found"}
CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"})
_CHAT_TARGETED = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageCaption",
                            "editMessageReplyMarkup", "sendChatAction", "deleteMessage"})
_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                 "as a current content and reply markup of the message")
Handler = Callable[[JSON, dict[str, Upload]], Any]
_SCOPES = frozenset({"default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
                     "chat_administrators", "chat_member"})


class BotApiMethods(FakeTelegramState):
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

    def file_bytes(self, file_path: str) -> bytes | None:
        """Content served under ``base_file_url`` for a path handed out by getFile."""
        with self._cond:
            return next((data for data, path in self._files.values() if path == file_path), None)

    # ---- bot-level methods ---------------------------------------------------------------------------

    def _true(self, _params: JSON, _uploads: dict[str, Upload]) -> bool:
        """close / logOut: nothing to tear down in a fake."""
        return True

    def _get_me(self, _params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """The bot user, with the capability flags getMe adds."""
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _get_updates(self, params: JSON, _uploads: dict[str, Upload]) -> list[JSON]:
        """Long polling: confirm below ``offset``, then wait up to ``timeout`` for an allowed update."""
        offset, limit = as_int(params, "offset", 0) or 0, min(max(as_int(params, "limit", 100) or 100, 1), 100)
        try:
            timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_POLL_SECONDS)
        except (TypeError, ValueError) as exc:
            raise BadRequestError("invalid timeout specified") from exc
        allowed = as_json(params, "allowed_updates")
        deadline = time.monotonic() + timeout
        with self._cond:
            if allowed is not None:
                self._allowed_updates = set(allowed) or None  # Telegram remembers the last list given
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            while True:
                batch = [copy.deepcopy(u) for u in self._updates if self._is_allowed(u)][:limit]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._closing.is_set():
                    return batch
                self._cond.wait(remaining)

    def _is_allowed(self, update: JSON) -> bool:
        """Whether the last ``allowed_updates`` admits this update's type."""
        return self._allowed_updates is None or any(key in self._allowed_updates for key in update)

    def _delete_webhook(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """PTB calls this before polling; ``drop_pending_updates`` empties the queue."""
        with self._cond:
            self.webhook_url = ""
            if as_bool(params, "drop_pending_updates"):
                self._updates.clear()
        return True

    def _set_webhook(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """Only recorded: the fake never delivers to webhooks."""
        with self._cond:
            self.webhook_url = as_text(params, "url") or ""
        return True

    def _webhook_info(self, _params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """WebhookInfo as PTB parses it."""
        with self._cond:
            return {"url": self.webhook_url, "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}

    def _set_commands(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """Validate like Telegram (1-32 chars of a-z, 0-9, _; description 1-256) and store per scope."""
        commands = as_json(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise BadRequestError("can't parse commands JSON object")
        for item in commands:
            name, text = str(item.get("command", "")), str(item.get("description", ""))
            if not (1 <= len(name) <= 32) or not all(c.islower() or c.isdigit() or c == "_" for c in name):
                raise BadRequestError("BOT_COMMAND_INVALID")
            if not (1 <= len(text) <= 256):
                raise BadRequestError("command description is empty" if not text else "BOT_COMMAND_DESCRIPTION_INVALID")
        stored = [{"command": str(c["command"]), "description": str(c["description"])} for c in commands]
        key = self._scope_key(params)
        with self._cond:
            if key == "default":
                self._commands = stored
            else:
                self._scoped_commands[key] = stored
        return True

    def _scope_key(self, params: JSON) -> str:
        """The scope of a *MyCommands call as a key ("default", "chat:42", "all_private_chats", …)."""
        scope = as_json(params, "scope") if params.get("scope") not in (None, "") else None
        if scope is None:
            return "default"
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
            raise BadRequestError("can't parse BotCommandScope JSON object")
        if scope["type"] in ("chat", "chat_administrators", "chat_member"):
            if "chat_id" not in scope:
                raise BadRequestError("chat_id is empty")
            return f"{scope['type']}:{scope['chat_id']}" + (f":{scope['user_id']}" if "user_id" in scope else "")
        return str(scope["type"])

    def _get_commands(self, params: JSON, _uploads: dict[str, Upload]) -> list[JSON]:
        """The command list of the scope ([] before any setMyCommands for it, like a fresh bot)."""
        key = self._scope_key(params)
        return (self.commands or []) if key == "default" else self.commands_for(key)

    def _delete_commands(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """Forget the command list of the scope."""
        key = self._scope_key(params)
        with self._cond:
            if key == "default":
                self._commands = []
            else:
                self._scoped_commands.pop(key, None)
        return True

    def _get_chat(self, params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """Minimal ChatFullInfo: the fields PTB 22 requires beyond the Chat object."""
        chat_id = as_chat_id(params)
        with self._cond:
            chat = self._chat(chat_id)
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), False)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _get_file(self, params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """File info for something the bot uploaded; download it from ``base_file_url``."""
        file_id = as_text(params, "file_id") or ""
        with self._cond:
            if file_id not in self._files:
                raise BadRequestError("invalid file_id")
            data, path = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}

    # ---- sending -------------------------------------------------------------------------------------

    def _send_message(self, params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """sendMessage with Telegram's empty/too-long/entity checks."""
        chat_id, parse_mode = as_chat_id(params), as_text(params, "parse_mode")
        text = self._checked_text(as_text(params, "text"), parse_mode, 4096, "message text")
        markup = self._checked_markup(params)
        message = self._bot_message(chat_id, {"text": text}, markup)
        self._record(SentRecord("sendMessage", chat_id, message["message_id"], text, None, parse_mode, markup,
                                params=_loggable(params)))
        return message

    def _send_photo(self, params: JSON, uploads: dict[str, Upload]) -> JSON:
        """sendPhoto: keeps the uploaded bytes; with ``require_png`` a non-PNG fails like a broken image."""
        chat_id, parse_mode = as_chat_id(params), as_text(params, "parse_mode")
        caption = self._checked_caption(params, parse_mode)
        data, _name = self._file_param(params, uploads, "photo")
        size = png_size(data) if data is not None else None
        if data is not None and self.require_png and size is None:
            raise BadRequestError("IMAGE_PROCESS_FAILED")
        file_id = self._store_file(data, "photos", "png" if size else "jpg")
        width, height = size or (0, 0)
        photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": width, "height": height,
                  "file_size": len(data or b"")}]
        markup = self._checked_markup(params)
        message = self._bot_message(chat_id, {"photo": photo, **_caption_field(caption)}, markup)
        self._record(SentRecord("sendPhoto", chat_id, message["message_id"], caption or "", caption, parse_mode,
                                markup, photo=data, params=_loggable(params)))
        return message

    def _send_document(self, params: JSON, uploads: dict[str, Upload]) -> JSON:
        """sendDocument: keeps bytes and file name."""
        chat_id, parse_mode = as_chat_id(params), as_text(params, "parse_mode")
        caption = self._checked_caption(params, parse_mode)
        data, name = self._file_param(params, uploads, "document")
        file_id = self._store_file(data, "documents", (name or "file").rsplit(".", 1)[-1])
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name or "file",
                    "file_size": len(data or b"")}
        markup = self._checked_markup(params)
        message = self._bot_message(chat_id, {"document": document, **_caption_field(caption)}, markup)
        self._record(SentRecord("sendDocument", chat_id, message["message_id"], caption or "", caption, parse_mode,
                                markup, document=data, filename=name, params=_loggable(params)))
        return message

    def _chat_action(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """sendChatAction: only Telegram's known actions are accepted."""
        chat_id, action = as_chat_id(params), as_text(params, "action")
        if action not in CHAT_ACTIONS:
            raise BadRequestError("wrong parameter action in request")
        self._record(SentRecord("sendChatAction", chat_id, text=action, params=_loggable(params)))
        return True

    def _answer_callback(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """answerCallbackQuery: each query id can be answered once, as on Telegram."""
        query_id = as_text(params, "callback_query_id") or ""
        with self._cond:
            query = self._pending_callbacks.pop(query_id, None)
        if query is None:
            raise BadRequestError("query is too old and response timeout expired or query ID is invalid")
        message = query["message"]
        self._record(SentRecord("answerCallbackQuery", message["chat"]["id"], message["message_id"],
                                as_text(params, "text") or "", params=_loggable(params)))
        return True

    # ---- editing -------------------------------------------------------------------------------------

    def _edit_text(self, params: JSON, _uploads: dict[str, Upload]) -> JSON | bool:
        """editMessageText; a media message has no text to edit."""
        parse_mode = as_text(params, "parse_mode")
        text = self._checked_text(as_text(params, "text"), parse_mode, 4096, "message text")
        return self._edit("editMessageText", params, {"text": text}, "text")

    def _edit_caption(self, params: JSON, _uploads: dict[str, Upload]) -> JSON | bool:
        """editMessageCaption; only media messages carry a caption."""
        caption = self._checked_caption(params, as_text(params, "parse_mode"))
        return self._edit("editMessageCaption", params, {"caption": caption or ""}, "caption")

    def _edit_markup(self, params: JSON, _uploads: dict[str, Upload]) -> JSON | bool:
        """editMessageReplyMarkup; omitting reply_markup removes the keyboard."""
        return self._edit("editMessageReplyMarkup", params, {}, None)

    def _edit(self, method: str, params: JSON, changes: JSON, needs: str | None) -> JSON | bool:
        """Shared edit path: existence, ownership and 'not modified' checks, then store and record."""
        markup = self._checked_markup(params)
        parse_mode = as_text(params, "parse_mode")
        if params.get("inline_message_id"):
            self._record(SentRecord(method, None, None, str(changes.get("text") or changes.get("caption") or ""),
                                    changes.get("caption"), parse_mode, markup, params=_loggable(params)))
            return True
        chat_id, message_id = as_chat_id(params), as_int(params, "message_id")
        with self._cond:
            current = self._messages.get((chat_id, message_id or 0))
            if current is None:
                raise BadRequestError("message to edit not found")
            if current["from"].get("id") != self.bot_user["id"]:
                raise BadRequestError("message can't be edited")
            if needs == "text" and "text" not in current:
                raise BadRequestError("there is no text in the message to edit")
            if needs == "caption" and not ({"photo", "document"} & current.keys()):
                raise BadRequestError("there is no caption in the message to edit")
            updated = {**current, **changes}
            updated.pop("reply_markup", None)
            if markup and "inline_keyboard" in markup:
                updated["reply_markup"] = markup
            if {k: v for k, v in updated.items() if k != "edit_date"} == {
                    k: v for k, v in current.items() if k != "edit_date"}:
                raise BadRequestError(_NOT_MODIFIED)
            updated["edit_date"] = int(time.time())
            self._messages[(chat_id, message_id or 0)] = updated
            result = copy.deepcopy(updated)
        text = str(updated.get("text") or updated.get("caption") or "")
        self._record(SentRecord(method, chat_id, message_id, text, updated.get("caption"), parse_mode, markup,
                                params=_loggable(params)))
        return result

    def _delete_message(self, params: JSON, _uploads: dict[str, Upload]) -> bool:
        """deleteMessage: forget it; a second delete fails like on Telegram."""
        chat_id, message_id = as_chat_id(params), as_int(params, "message_id")
        with self._cond:
            if self._messages.pop((chat_id, message_id or 0), None) is None:
                raise BadRequestError("message to delete not found")
        self._record(SentRecord("deleteMessage", chat_id, message_id, params=_loggable(params)))
        return True

    # ---- validation and storage helpers --------------------------------------------------------------

    def _checked_text(self, text: str | None, parse_mode: str | None, limit: int, what: str) -> str:
        """Non-empty, within ``limit`` visible characters, and parseable under ``parse_mode``."""
        if not text or not text.strip():
            raise BadRequestError(f"{what} is empty")
        if self.validate_markup:
            check_entities(text, parse_mode)
        if visible_length(text, parse_mode) > limit:
            raise BadRequestError("message is too long")
        return text

    def _checked_caption(self, params: JSON, parse_mode: str | None) -> str | None:
        """Captions are optional, limited to 1024 visible characters."""
        caption = as_text(params, "caption")
        if caption:
            if self.validate_markup:
                check_entities(caption, parse_mode)
            if visible_length(caption, parse_mode) > 1024:
                raise BadRequestError("message caption is too long")
        return caption or None

    def _checked_markup(self, params: JSON) -> JSON | None:
        """reply_markup must parse; inline buttons need text and 1-64 bytes of callback_data."""
        markup = as_json(params, "reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise BadRequestError("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise BadRequestError("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not button.get("text"):
                raise BadRequestError("can't parse inline keyboard button: Text buttons are unallowed")
            data = button.get("callback_data")
            if data is not None and not (1 <= len(str(data).encode()) <= 64):
                raise BadRequestError("BUTTON_DATA_INVALID")
        return markup

    def _file_param(self, params: JSON, uploads: dict[str, Upload], key: str) -> tuple[bytes | None, str | None]:
        """Uploaded bytes (part named ``key`` or an ``attach://`` reference), a known file_id, or a URL."""
        value = as_text(params, key)
        upload = uploads.get(key)
        if value and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            if not upload.data:
                raise BadRequestError("file must be non-empty")
            return upload.data, upload.filename
        with self._cond:
            if value in self._files:
                return self._files[value][0], None
        if value and value.startswith(("http://", "https://")):
            return None, value.rsplit("/", 1)[-1]
        raise BadRequestError(f"there is no {key} in the request" if not value
                              else "wrong file identifier/HTTP URL specified")

    def _store_file(self, data: bytes | None, folder: str, ext: str) -> str:
        """Keep uploaded bytes so getFile + base_file_url can serve them back; returns the file_id."""
        with self._cond:
            seq = next(self._file_seq)
            file_id = f"fake-{folder}-{seq}"
            if data is not None:
                self._files[file_id] = (data, f"{folder}/file_{seq}.{ext}")
        return file_id

    def _bot_message(self, chat_id: int | str, fields: JSON, markup: JSON | None) -> JSON:
        """Store a bot-sent message; only inline keyboards are echoed back (Telegram drops reply keyboards)."""
        if markup and "inline_keyboard" in markup:
            fields = {**fields, "reply_markup": markup}
        with self._cond:
            return self._store_message(chat_id, dict(self.bot_user), fields)


def _caption_field(caption: str | None) -> JSON:
    """Media messages carry ``caption`` only when one was given."""
    return {"caption": caption} if caption else {}


def _loggable(params: JSON) -> JSON:
    """Copy of request params for records (plain JSON; upload bytes live on the record itself)."""
    return dict(params)
