"""The fake Bot API driven by the real PTB 22 stack over HTTP: polling, handlers, uploads, errors, faults."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from support.fake_telegram import FakeTelegramServer, SentRecord
from support.fake_telegram import make_png as tiny_png

pytestmark = pytest.mark.timeout(30)
CHAT = 4242


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer(require_png=True) as server:
        yield server


def make_bot(tg: FakeTelegramServer, token: str | None = None, read_timeout: float = 5.0) -> Bot:
    """A bare PTB Bot pointed at the fake."""
    return Bot(token or tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url,
               request=HTTPXRequest(read_timeout=read_timeout))


def run_polling(tg: FakeTelegramServer, handlers: list, scenario: Callable[[Application], Awaitable[None]]) -> None:
    """Run the bot with long polling around ``scenario`` and always shut it down cleanly."""

    async def main() -> None:
        app = Application.builder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url).build()
        for handler in handlers:
            app.add_handler(handler)
        async with app:
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            await app.start()
            try:
                await scenario(app)
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(main())


async def start(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(f"안녕하세요 {update.effective_user.first_name}")


async def chart(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_photo(photo=tiny_png(), caption="005930 chart")


def test_start_command_reply_and_photo_upload(tg: FakeTelegramServer) -> None:
    async def scenario(_app: Application) -> None:
        tg.push_message(CHAT, "/start", first_name="Kim")
        reply = await tg.wait_for_async(lambda r: r.chat_id == CHAT and r.method == "sendMessage")
        assert reply.text == "안녕하세요 Kim"
        tg.push_message(CHAT, "/chart 005930")
        photo = await tg.wait_for_async(lambda r: r.method == "sendPhoto")
        assert photo.photo == tiny_png() and photo.is_png and photo.caption == "005930 chart"
        assert photo.message_id > reply.message_id  # per-chat ids shared by user and bot messages

    run_polling(tg, [CommandHandler("start", start), CommandHandler("chart", chart)], scenario)
    assert [r.method for r in tg.messages_to(CHAT)] == ["sendMessage", "sendPhoto"]
    assert tg.pending_updates == 0  # PTB confirmed everything via the offset on shutdown


def test_callback_button_answer_and_edit(tg: FakeTelegramServer) -> None:
    async def menu(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Buy", callback_data="buy:005930")]])
        await update.effective_message.reply_text("Pick", reply_markup=keyboard)

    async def pressed(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("ok")
        await query.edit_message_text(f"chose {query.data}")

    async def scenario(_app: Application) -> None:
        tg.push_message(CHAT, "/menu")
        sent = await tg.wait_for_async(lambda r: r.text == "Pick")
        assert sent.buttons == [("Buy", "buy:005930")]
        tg.push_callback(CHAT, "buy:005930", sent.message_id)
        await tg.wait_for_async(lambda r: r.method == "editMessageText")

    run_polling(tg, [CommandHandler("menu", menu), CallbackQueryHandler(pressed)], scenario)
    answer = tg.wait_for(lambda r: r.method == "answerCallbackQuery", timeout=0)
    assert answer.text == "ok"
    (edit,) = tg.edits_of(CHAT, answer.message_id)
    assert edit.text == "chose buy:005930"
    assert "reply_markup" not in (tg.message(CHAT, answer.message_id) or {})  # edit without markup drops it


def test_blocked_user_raises_forbidden(tg: FakeTelegramServer) -> None:
    tg.block_user(CHAT)

    async def main() -> None:
        async with make_bot(tg) as bot:
            with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
                await bot.send_message(CHAT, "hi")
            await bot.send_message(CHAT + 1, "others still work")

    asyncio.run(main())
    assert [r.chat_id for r in tg.sent] == [CHAT + 1]
    assert [c.status for c in tg.calls if c.method == "sendMessage"] == [403, 200]


def test_rate_limit_surfaces_retry_after(tg: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # otherwise RetryAfter.retry_after warns about int -> timedelta
    tg.rate_limit("sendMessage", times=1, retry_after=3)

    async def main() -> None:
        async with make_bot(tg) as bot:
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(CHAT, "hi")
            assert caught.value.retry_after == dt.timedelta(seconds=3)
            await bot.send_message(CHAT, "after the wait")

    asyncio.run(main())
    assert [r.text for r in tg.sent] == ["after the wait"]


def test_edit_text_recorded_and_not_modified_rejected(tg: FakeTelegramServer) -> None:
    async def main() -> None:
        async with make_bot(tg) as bot:
            message = await bot.send_message(CHAT, "price 70,000")
            edited = await bot.edit_message_text("price 71,000", chat_id=CHAT, message_id=message.message_id)
            assert edited.text == "price 71,000" and edited.edit_date is not None
            with pytest.raises(BadRequest, match=r"(?i)not modified"):
                await bot.edit_message_text("price 71,000", chat_id=CHAT, message_id=message.message_id)
            with pytest.raises(BadRequest, match=r"(?i)Message to edit not found"):
                await bot.edit_message_text("x", chat_id=CHAT, message_id=999)

    asyncio.run(main())
    (edit,) = tg.edits_of(CHAT, 1)
    assert edit.text == "price 71,000"


def test_set_my_commands_round_trip(tg: FakeTelegramServer) -> None:
    async def main() -> None:
        async with make_bot(tg) as bot:
            await bot.set_my_commands([("start", "시작"), ("chart", "Price chart")])
            commands = await bot.get_my_commands()
            assert [(c.command, c.description) for c in commands] == [("start", "시작"), ("chart", "Price chart")]
            with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
                await bot.set_my_commands([("Start", "uppercase is refused by Telegram")])
            await bot.delete_my_commands()
            assert await bot.get_my_commands() == ()

    asyncio.run(main())
    assert tg.commands == []


def test_photo_validation_file_download_and_chat(tg: FakeTelegramServer) -> None:
    async def main() -> None:
        async with make_bot(tg) as bot:
            with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
                await bot.send_photo(CHAT, photo=b"GIF89a not a png")
            message = await bot.send_photo(CHAT, photo=tiny_png(5, 4))
            assert (message.photo[-1].width, message.photo[-1].height) == (5, 4)
            file = await bot.get_file(message.photo[-1].file_id)
            assert bytes(await file.download_as_bytearray()) == tiny_png(5, 4)
            document = await bot.send_document(CHAT, document=b"a,b\n1,2\n", filename="picks.csv")
            assert document.document.file_name == "picks.csv"
            chat = await bot.get_chat(CHAT)
            assert chat.id == CHAT and chat.type == "private"
            await bot.send_chat_action(CHAT, "typing")

    asyncio.run(main())
    assert [r.method for r in tg.sent] == ["sendPhoto", "sendDocument", "sendChatAction"]
    assert tg.sent[1].document == b"a,b\n1,2\n" and tg.sent[1].filename == "picks.csv"


def test_markup_errors_like_telegram(tg: FakeTelegramServer) -> None:
    async def main() -> None:
        async with make_bot(tg) as bot:
            with pytest.raises(BadRequest, match=r"(?i)character '\+' is reserved"):
                await bot.send_message(CHAT, "*삼성* +3.5%", parse_mode="MarkdownV2")
            await bot.send_message(CHAT, "*삼성* \\+3\\.5%", parse_mode="MarkdownV2")
            with pytest.raises(BadRequest, match=r'(?i)Unsupported start tag "br"'):
                await bot.send_message(CHAT, "a<br>b", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
                keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
                await bot.send_message(CHAT, "too much data", reply_markup=keyboard)
            with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
                await bot.send_message(CHAT, "x" * 4097)

    asyncio.run(main())
    assert len(tg.sent) == 1


def test_conflict_timeout_and_wrong_token(tg: FakeTelegramServer) -> None:
    tg.conflict()
    tg.delay("sendMessage", 0.6)

    async def main() -> None:
        async with make_bot(tg, read_timeout=0.2) as bot:
            with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
                await bot.get_updates(timeout=0)
            assert await bot.get_updates(timeout=0) == ()
            with pytest.raises(TimedOut):
                await bot.send_message(CHAT, "slow")
        with pytest.raises(InvalidToken):
            async with make_bot(tg, token="999:wrong"):
                pass

    asyncio.run(main())
    late = tg.wait_for(lambda r: r.text == "slow", timeout=2.0)  # Telegram still delivered it
    assert isinstance(late, SentRecord)


def test_long_poll_wakes_on_push_and_offset_confirms(tg: FakeTelegramServer) -> None:
    async def main() -> None:
        async with make_bot(tg) as bot:
            threading.Timer(0.2, tg.push_message, args=(CHAT, "hello")).start()
            began = time.monotonic()
            (update,) = await bot.get_updates(timeout=5)
            assert time.monotonic() - began < 2.0 and update.message.text == "hello"
            assert tg.pending_updates == 1
            assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
            assert tg.pending_updates == 0

    asyncio.run(main())


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    """Raw HTTP call without PTB, to check the wire contract itself."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_raw_wire_contract(tg: FakeTelegramServer) -> None:
    api = tg.base_url + tg.token
    assert post(f"{api}/noSuchMethod", b"", "application/json") == (
        404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert post(f"{tg.base_url}1:bad/getMe", b"", "application/json")[0] == 401
    status, body = post(f"{api}/sendMessage", json.dumps({"chat_id": 7, "text": "json body"}).encode(),
                        "application/json")
    assert status == 200 and body["result"]["chat"] == {"id": 7, "type": "private", "first_name": "User"}
    status, body = post(f"{api}/sendmessage", b"chat_id=7&text=form+body", "application/x-www-form-urlencoded")
    assert status == 200 and body["result"]["message_id"] == 2 and body["result"]["from"]["is_bot"]
    tg.rate_limit("sendMessage", retry_after=2)
    assert post(f"{api}/sendMessage", b"chat_id=7&text=x", "application/x-www-form-urlencoded")[1] == {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2}}
    tg.rate_limit("*", times=2)  # wildcard: any method except getUpdates, so polling bots keep polling
    assert post(f"{api}/getUpdates", b"", "application/json")[0] == 200
    assert [post(f"{api}/getMe", b"", "application/json")[0] for _ in range(3)] == [429, 429, 200]


def test_stop_is_prompt_with_a_pending_long_poll() -> None:
    server = FakeTelegramServer().start()
    url = f"{server.base_url}{server.token}/getUpdates"
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(post(url, b"timeout=10", "application/x-www-form-urlencoded"))
        except (OSError, http.client.HTTPException) as exc:  # the socket may be cut mid-answer
            outcome.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    began = time.monotonic()
    server.stop()
    poller.join(timeout=3)
    assert not poller.is_alive() and time.monotonic() - began < 2.0 and outcome
