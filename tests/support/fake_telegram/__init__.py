"""Test doubles for kstock: a local fake of the Telegram Bot API that the real PTB stack can talk to.

It lives under ``tests/`` (not ``src/``) so the wheel ships no test doubles; tests and benchmarks import it
as ``support.fake_telegram`` with ``tests/`` on ``sys.path``.
"""

from ._state import ApiError, CallRecord, SentRecord
from ._wire import make_png, png_size
from .harness import BotHarness
from .server import DEFAULT_TOKEN, FakeTelegramServer

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "BotHarness",
    "CallRecord",
    "FakeTelegramServer",
    "SentRecord",
    "make_png",
    "png_size",
]
