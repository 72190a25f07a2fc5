"""Message methods of the fake Bot API: send text, chat actions, callback answers, edits, deletes, with
Telegram's validation of text, captions, entities and inline keyboards (shared with the media methods)."""

from __future__ import annotations

import copy
import time

from ._markup import check_entities, visible_length
from ._state import JSON, FakeTelegramState, SentRecord
from ._wire import BadRequestError, Upload, as_chat_id, as_int, as_json, as_text

CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"})
_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                 "as a current content and reply markup of the message")


class MessageMethods(FakeTelegramState):
    """sendMessage, sendChatAction, answerCallbackQuery, editMessage*, deleteMessage and the checks they share."""

    validate_markup: bool  # set by BotApiMethods.__init__

    def _send_message(self, params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """sendMessage with Telegram's empty/too-long/entity checks."""
        chat_id, parse_mode = as_chat_id(params), as_text(params, "parse_mode")
        text = self._checked_text(as_text(params, "text"), parse_mode, 4096, "message text")
        markup = self._checked_markup(params)
        message = self._bot_message(chat_id, {"text": text}, markup)
        self._record(SentRecord("sendMessage", chat_id, message["message_id"], text, None, parse_mode, markup,
                                params=_loggable(params)))
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
