"""Bot-level methods of the fake Bot API: getMe, long polling, webhooks, the command menus per scope, getChat."""

from __future__ import annotations

import copy
import time

from ._state import JSON, FakeTelegramState
from ._wire import BadRequestError, Upload, as_bool, as_chat_id, as_int, as_json, as_text

MAX_POLL_SECONDS = 10.0  # caps getUpdates long polling so a forgotten poller never pins a thread long
_SCOPES = frozenset({"default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
                     "chat_administrators", "chat_member"})


class BotMethods(FakeTelegramState):
    """Methods about the bot itself and its update queue, not about a message."""

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
