"""``parse_mode`` validation for the fake Bot API, so tests catch what Telegram would reject in production.

Telegram answers 400 ``can't parse entities`` for an unescaped ``.`` in MarkdownV2, an unclosed ``_`` in
legacy Markdown (``005930_KS``) or an unsupported/unbalanced HTML tag (``<br>``, ``<삼성>``). The checks
are deliberately conservative: they flag only what Telegram certainly rejects, so a passing check never
hides a real bug behind a false alarm.
"""

from __future__ import annotations

import html
import re

from ._wire import BadRequestError

HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
     "code", "pre", "blockquote", "tg-time"}
)
_HTML_TAG = re.compile(r"<(/?)([^\s<>/]+)([^<>]*)>")
_MDV2_ALWAYS_RESERVED = frozenset(".-=+#{}()")
_MDV2_TOGGLES = (
    ("**", "Bold"), ("||", "Spoiler"), ("__", "Underline"), ("*", "Bold"), ("_", "Italic"), ("~", "Strikethrough"),
)


def _fail(text: str, index: int, what: str) -> BadRequestError:
    """Telegram reports positions as UTF-8 byte offsets; mimic that so messages read the same."""
    return BadRequestError(f"can't parse entities: {what} at byte offset {len(text[:index].encode())}")


def check_entities(text: str, parse_mode: str | None) -> None:
    """Raise :class:`BadRequestError` when Telegram would refuse ``text`` under ``parse_mode``."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        _check_html(text)
    elif mode == "markdownv2":
        _check_markdown_v2(text)
    elif mode == "markdown":
        _check_markdown_v1(text)
    elif mode:
        raise BadRequestError(f"unsupported parse_mode {parse_mode!r}")


def visible_length(text: str, parse_mode: str | None) -> int:
    """Length after markup is stripped (what Telegram's 4096/1024 limits count); errs on the short side."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return len(html.unescape(_HTML_TAG.sub("", text)))
    if mode.startswith("markdown"):
        return len(re.sub(r"[\\*_~|`\[\]]", "", text))
    return len(text)


def _check_html(text: str) -> None:
    """Every ``<`` that starts a tag must be a supported, properly nested tag."""
    stack: list[tuple[str, int]] = []
    for index, char in enumerate(text):
        if char != "<":
            continue
        nxt = text[index + 1 : index + 2]
        if not (nxt.isalpha() or nxt == "/"):
            continue  # "price < 100": not a tag attempt; left alone to stay conservative
        match = _HTML_TAG.match(text, index)
        if match is None:
            raise _fail(text, index, "unclosed start tag")
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in HTML_TAGS:
            raise _fail(text, index, f'Unsupported {"end" if closing else "start"} tag "{name}"')
        if not closing:
            stack.append((name, index))
        elif not stack or stack[-1][0] != name:
            expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
            raise _fail(text, index, f'Unmatched end tag, expected {expected}, found "</{name}>"')
        else:
            stack.pop()
    if stack:
        name, index = stack[-1]
        raise _fail(text, index, f'Can\'t find end tag corresponding to start tag "{name}"')


def _check_markdown_v2(text: str) -> None:
    """Reserved characters must be escaped outside code/URLs, and every style marker must be closed."""
    open_at: dict[str, int] = {}
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        skip = _mdv2_skip_code_or_url(text, index)
        if skip:
            index = skip
            continue
        toggled = _mdv2_toggle(text, index, open_at)
        if toggled:
            index += toggled
            continue
        if (char in _MDV2_ALWAYS_RESERVED or char in "!>|") and not _mdv2_allowed_here(text, index):
            raise BadRequestError(
                f"can't parse entities: Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        index += 1
    if open_at:
        marker, start = min(open_at.items(), key=lambda item: item[1])
        name = dict(_MDV2_TOGGLES)[marker]
        raise _fail(text, start, f"Can't find end of {name} entity")


def _mdv2_allowed_here(text: str, index: int) -> bool:
    """``>``/``**>`` start a (expandable) blockquote at line start; ``![`` starts a custom emoji."""
    if text[index] == "!":
        return text[index + 1 : index + 2] == "["
    if text[index] == ">":
        return text[text.rfind("\n", 0, index) + 1 : index] in ("", "**")
    return False


def _mdv2_toggle(text: str, index: int, open_at: dict[str, int]) -> int:
    """Open/close a style marker at ``index``; returns the marker length, 0 when none starts here."""
    for marker, _name in _MDV2_TOGGLES:
        if text.startswith(marker, index):
            if marker == "**" or (marker == "||" and marker not in open_at and _ends_line(text, index + 2)):
                return len(marker)  # "**>" expandable-blockquote start / "||" expandable-blockquote end
            if marker in open_at:
                del open_at[marker]
            else:
                open_at[marker] = index
            return len(marker)
    return 0


def _ends_line(text: str, index: int) -> bool:
    """True at end of text or of a line."""
    return index >= len(text) or text[index] == "\n"


def _mdv2_skip_code_or_url(text: str, index: int) -> int:
    """Index just past a code span, pre block or link URL starting at ``index``; 0 when none starts here."""
    if text.startswith("](", index):
        return _find_unescaped(text, index + 2, ")", "Can't find end of a URL", index) + 1
    for fence, name in (("```", "Pre"), ("`", "Code")):
        if text.startswith(fence, index):
            return _find_unescaped(text, index + len(fence), fence, f"Can't find end of {name} entity", index) + len(
                fence
            )
    return 0


def _find_unescaped(text: str, start: int, needle: str, error: str, opened: int) -> int:
    """Position of the next ``needle`` not preceded by an escaping backslash."""
    index = start
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(needle, index):
            return index
        index += 1
    raise _fail(text, opened, error)


def _check_markdown_v1(text: str) -> None:
    """Legacy Markdown: ``*``, ``_`` and backtick entities must all be closed (no nesting, no escapes inside)."""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text[index + 1 : index + 2] in ("_", "*", "`", "["):
            index += 2
            continue
        if char == "[":
            index = _v1_skip_link(text, index)
            continue
        marker = "```" if text.startswith("```", index) else char
        if marker in ("*", "_", "`", "```"):
            end = text.find(marker, index + len(marker))
            if end < 0:
                raise _fail(text, index, "Can't find end of the entity starting")
            index = end + len(marker)
            continue
        index += 1


def _v1_skip_link(text: str, index: int) -> int:
    """Skip a legacy ``[text](url)`` link whole (URLs may contain ``_``); otherwise step over the ``[``."""
    close = text.find("](", index)
    end = text.find(")", close + 2) if close >= 0 else -1
    return end + 1 if end >= 0 else index + 1
