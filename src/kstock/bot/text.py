"""Text for Telegram: one parse mode (HTML) everywhere, escaped with :func:`html.escape`, split to fit.

The service layer's presenters write plain text; everything the bot sends goes through
:func:`escape` and is sent with ``parse_mode=HTML``, so a ``<``, ``&`` or ``>`` in a stock name or an
error message can never break a message. Splitting happens on the plain text (Telegram counts the
4,096-character limit after entities are parsed), on line boundaries where possible.
"""

from __future__ import annotations

import html

from telegram.constants import MessageLimit, ParseMode

PARSE_MODE = ParseMode.HTML
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096
MAX_CAPTION = int(MessageLimit.CAPTION_LENGTH)  # 1024


def escape(text: str) -> str:
    """Plain text → HTML-safe text (``&``, ``<``, ``>`` escaped; quotes need no escaping in text)."""
    return html.escape(text, quote=False)


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line ends; a single longer line is cut hard.

    When no line is longer than ``limit``, joining the pieces with ``"\\n"`` gives back the text
    (blank-only pieces, which Telegram refuses, are dropped).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while len(line) > limit:  # one over-long line: flush what we have, then cut the line itself
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            pieces.append(line[:limit])
            line = line[limit:]
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            pieces.append("\n".join(current))
            current, size = [line], len(line)
        else:
            current.append(line)
            size += extra
    if current:
        pieces.append("\n".join(current))
    return [p for p in pieces if p.strip()] or [text[:limit]]


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when cut (captions, button labels)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
