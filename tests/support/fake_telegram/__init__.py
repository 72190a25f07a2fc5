"""Test doubles for kstock: a local fake of the Telegram Bot API that the real PTB stack can talk to."""

from kstock.testing._tg_state import ApiError, CallRecord, SentRecord
from kstock.testing._tg_wire import make_png, png_size
from kstock.testing.fake_telegram import DEFAULT_TOKEN, FakeTelegramServer

__all__ = ["DEFAULT_TOKEN", "ApiError", "CallRecord", "FakeTelegramServer", "SentRecord", "make_png", "png_size"]
