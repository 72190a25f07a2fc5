"""Thread-safe state of the fake Bot API: chats, stored messages, the update queue, records and fault plans.

All state sits behind one :class:`threading.Condition` so HTTP handler threads (one per connection), the
long-polling ``getUpdates`` waiters and the test thread calling :meth:`push_message`/:meth:`wait_for`
never race; every mutation ``notify_all``s so pollers and waiters wake immediately rather than sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._wire import png_size, utf16_len

JSON = dict[str, Any]
MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})


class ApiError(Exception):
    """A Telegram error answer: HTTP status = ``error_code``, plus optional ``parameters`` (retry_after)."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code, self.description, self.parameters = code, description, parameters

    def payload(self) -> JSON:
        """The JSON body Telegram sends with this error."""
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class SentRecord:
    """One successful bot action visible to a user (send, edit, delete, callback answer, chat action).

    ``text`` is the message text, or the caption for media, or the callback answer text; ``""`` when none,
    so predicates like ``"삼성" in r.text`` never trip on ``None``. ``time`` is ``time.monotonic()``.
    """

    method: str
    chat_id: int | str | None
    message_id: int | None = None
    text: str = ""
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    photo: bytes | None = None
    document: bytes | None = None
    filename: str | None = None
    params: JSON = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)

    @property
    def is_png(self) -> bool:
        """True when the uploaded photo/document is a structurally valid PNG."""
        data = self.photo if self.photo is not None else self.document
        return data is not None and png_size(data) is not None

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline keyboard as a flat ``[(text, callback_data), ...]`` list, for pushing callbacks in tests."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(str(b.get("text", "")), b.get("callback_data")) for row in rows for b in row]


@dataclass(frozen=True)
class CallRecord:
    """Every API request, successful or not, with its HTTP status: lets tests assert retries/backoff."""

    method: str
    params: JSON
    status: int
    time: float = field(default_factory=time.monotonic)


class FakeTelegramState:
    """Storage, user-activity injection, observation and fault plans; the HTTP layer sits on top."""

    def __init__(self, token: str, bot_username: str = "kstock_test_bot") -> None:
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: JSON = {"id": bot_id, "is_bot": True, "first_name": "KStock Test", "username": bot_username}
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._next_message_id: dict[int | str, int] = {}
        self._messages: dict[tuple[int | str, int], JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._pending_callbacks: dict[str, JSON] = {}
        self._sent: list[SentRecord] = []
        self._calls: list[CallRecord] = []
        self._files: dict[str, tuple[bytes, str]] = {}
        self._blocked: set[int | str] = set()
        self._rate_limits: dict[str, list[int]] = {}
        self._flood: tuple[int, int] | None = None  # (messages per second, retry_after)
        self._flood_times: collections.deque[float] = collections.deque()
        self.flood_refusals = 0  # 429s the flood limit answered
        self._delays: dict[str, tuple[float, int | None]] = {}
        self._conflicts = 0
        self._commands: list[JSON] | None = None
        self._scoped_commands: dict[str, list[JSON]] = {}  # "chat:42", "all_private_chats", …
        self._allowed_updates: set[str] | None = None
        self.webhook_url = ""

    # ---- user activity -------------------------------------------------------------------------------

    def push_message(self, chat_id: int, text: str, user_id: int | None = None, first_name: str = "User") -> int:
        """Queue a private-chat message from a user; ``/cmd`` gets a ``bot_command`` entity. Returns update_id."""
        user = {"id": user_id if user_id is not None else chat_id, "is_bot": False, "first_name": first_name}
        fields: JSON = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        with self._cond:
            self._chats[chat_id] = {"id": chat_id, "type": "private", "first_name": first_name}
            message = self._store_message(chat_id, user, fields)
        return self._queue_update("message", message)

    def push_callback(self, chat_id: int, data: str, message_id: int, user_id: int | None = None) -> int:
        """Queue a button press (callback_query) on a message the bot sent to ``chat_id``. Returns update_id."""
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}; messages are {sorted(self._messages)}")
            chat = self._chats.get(chat_id, {})
            sender = {"id": user_id if user_id is not None else chat_id, "is_bot": False,
                      "first_name": chat.get("first_name", "User")}
            query_id = f"cbq-{self._next_update_id}"
            query = {"id": query_id, "from": sender, "message": copy.deepcopy(message),
                     "chat_instance": f"ci-{chat_id}", "data": data}
            self._pending_callbacks[query_id] = query
        return self._queue_update("callback_query", query)

    def _queue_update(self, kind: str, payload: JSON) -> int:
        """Append an update and wake every long-polling getUpdates."""
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({"update_id": update_id, kind: payload})
            self._cond.notify_all()
        return update_id

    # ---- observation ---------------------------------------------------------------------------------

    @property
    def sent(self) -> list[SentRecord]:
        """Snapshot of successful bot actions, oldest first."""
        with self._cond:
            return list(self._sent)

    @property
    def calls(self) -> list[CallRecord]:
        """Snapshot of every API request (including failed and polling ones), oldest first."""
        with self._cond:
            return list(self._calls)

    @property
    def commands(self) -> list[JSON] | None:
        """The command list of the last setMyCommands (None before any; [] after deleteMyCommands)."""
        with self._cond:
            return copy.deepcopy(self._commands)

    def commands_for(self, scope: str) -> list[JSON]:
        """The command list set for a non-default scope: ``"chat:<id>"``, ``"all_private_chats"``, … ([] if none)."""
        with self._cond:
            return copy.deepcopy(self._scoped_commands.get(scope, []))

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset (0 once the bot has consumed everything)."""
        with self._cond:
            return len(self._updates)

    def messages_to(self, chat_id: int | str) -> list[SentRecord]:
        """Messages (text, photo, document) the bot sent to ``chat_id``."""
        return [r for r in self.sent if r.chat_id == chat_id and r.method in MESSAGE_METHODS]

    def edits_of(self, chat_id: int | str, message_id: int) -> list[SentRecord]:
        """Successful edits of one message, oldest first."""
        return [r for r in self.sent if r.method in EDIT_METHODS and (r.chat_id, r.message_id) == (chat_id, message_id)]

    def message(self, chat_id: int | str, message_id: int) -> JSON | None:
        """Current state of a stored message (after edits) as Telegram JSON; None if unknown or deleted."""
        with self._cond:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found else None

    def wait_for(self, predicate: Callable[[SentRecord], bool], timeout: float = 5.0, since: int = 0) -> SentRecord:
        """First record (from index ``since``) matching ``predicate``; blocks until one arrives.

        Raises AssertionError listing what was sent, so a failing test shows the bot's actual output.
        Blocking: call from a plain thread, or use :meth:`wait_for_async` inside the bot's event loop.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._find(predicate, since)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching record within {timeout}s; sent: {self._describe_sent()}")
                self._cond.wait(remaining)

    async def wait_for_async(
        self, predicate: Callable[[SentRecord], bool], timeout: float = 5.0, since: int = 0
    ) -> SentRecord:
        """Like :meth:`wait_for` but yields to the event loop (the bot runs in it) while waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                found = self._find(predicate, since)
            if found is not None:
                return found
            await asyncio.sleep(0.005)
        return self.wait_for(predicate, timeout=0.0, since=since)

    def _find(self, predicate: Callable[[SentRecord], bool], since: int) -> SentRecord | None:
        """First matching record from ``since`` (caller holds the lock)."""
        return next((record for record in self._sent[since:] if predicate(record)), None)

    def _describe_sent(self) -> str:
        """Compact listing for assertion messages (caller holds the lock)."""
        return "; ".join(f"{r.method}(chat={r.chat_id}, id={r.message_id}, text={r.text[:80]!r})"
                         for r in self._sent[-20:]) or "nothing"

    # ---- fault plans ---------------------------------------------------------------------------------

    def block_user(self, chat_id: int | str) -> None:
        """From now on, sends/edits to ``chat_id`` answer 403 "bot was blocked by the user"."""
        with self._cond:
            self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int | str) -> None:
        """Undo :meth:`block_user`."""
        with self._cond:
            self._blocked.discard(chat_id)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` (``"*"``: any but getUpdates) answer 429 with retry_after."""
        with self._cond:
            self._rate_limits[method.lower()] = [times, retry_after]

    def flood_limit(self, per_second: int | None, retry_after: int = 1) -> None:
        """Telegram's bulk limit: a message (sendMessage, sendPhoto, sendDocument) beyond ``per_second`` in any
        one-second window answers 429 with ``retry_after``, as Telegram does (about 30/s); None: no limit."""
        with self._cond:
            self._flood = None if per_second is None else (per_second, retry_after)
            self._flood_times.clear()

    def _check_flood(self, method: str) -> None:
        """Count this message in the sliding second; 429 when the second is full (caller holds the lock)."""
        if self._flood is None or method not in MESSAGE_METHODS:
            return
        now, (limit, retry_after) = time.monotonic(), self._flood
        while self._flood_times and now - self._flood_times[0] >= 1.0:
            self._flood_times.popleft()
        if len(self._flood_times) >= limit:
            self.flood_refusals += 1
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        self._flood_times.append(now)

    def delay(self, method: str, seconds: float, times: int | None = 1) -> None:
        """Stall the next ``times`` calls of ``method`` (None: all, until ``delay(method, 0)``) before acting.

        The call still takes effect after the stall, as on real Telegram when the client's read timed out.
        """
        with self._cond:
            if seconds <= 0:
                self._delays.pop(method.lower(), None)
            else:
                self._delays[method.lower()] = (seconds, times)

    def conflict(self, times: int = 1) -> None:
        """The next ``times`` getUpdates answer 409 as if another bot instance were polling."""
        with self._cond:
            self._conflicts = times

    def reset_faults(self) -> None:
        """Clear every fault plan (blocked users, rate limits, delays, conflicts)."""
        with self._cond:
            self._blocked.clear()
            self._rate_limits.clear()
            self._flood = None
            self._delays.clear()
            self._conflicts = 0

    def _take_delay(self, method: str) -> float:
        """Seconds to stall this call, consuming one use of the plan."""
        with self._cond:
            key = method.lower() if method.lower() in self._delays else "*"
            if key not in self._delays or (key == "*" and method == "getUpdates"):
                return 0.0
            seconds, times = self._delays[key]
            if times is not None:
                if times <= 1:
                    del self._delays[key]
                else:
                    self._delays[key] = (seconds, times - 1)
            return seconds

    def _check_faults(self, method: str, params: JSON, chat_id: int | str | None) -> None:
        """Raise the planned ApiError for this call, if any (caller holds the lock)."""
        key = method.lower() if method.lower() in self._rate_limits else "*"
        plan = self._rate_limits.get(key)
        if plan and not (key == "*" and method == "getUpdates"):
            plan[0] -= 1
            if plan[0] <= 0:
                del self._rate_limits[key]
            raise ApiError(429, f"Too Many Requests: retry after {plan[1]}", {"retry_after": plan[1]})
        if method == "getUpdates" and self._conflicts > 0:
            self._conflicts -= 1
            raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                "make sure that only one bot instance is running")
        if chat_id is not None and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        self._check_flood(method)

    # ---- storage helpers used by the method handlers -------------------------------------------------

    def _chat(self, chat_id: int | str) -> JSON:
        """Chat object for ``chat_id``: the private chat a user opened, or a minimal one for unknown ids."""
        if chat_id not in self._chats:
            kind = "private" if isinstance(chat_id, int) and chat_id > 0 else "group"
            self._chats[chat_id] = ({"id": chat_id, "type": kind, "first_name": "User"} if kind == "private"
                                    else {"id": chat_id, "type": kind, "title": f"Group {chat_id}"})
        return dict(self._chats[chat_id])

    def _store_message(self, chat_id: int | str, sender: JSON, fields: JSON) -> JSON:
        """Create a message with the chat's next message_id (shared by both sides, as in private chats)."""
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        message = {"message_id": message_id, "from": sender, "chat": self._chat(chat_id),
                   "date": int(time.time()), **fields}
        self._messages[(chat_id, message_id)] = message
        return copy.deepcopy(message)

    def _record(self, record: SentRecord) -> None:
        """Append a successful action and wake :meth:`wait_for` callers."""
        with self._cond:
            self._sent.append(record)
            self._cond.notify_all()

    def _record_call(self, method: str, params: JSON, status: int) -> None:
        """Append to the full call log (upload bytes are not in ``params``, only their names)."""
        with self._cond:
            self._calls.append(CallRecord(method, params, status))
