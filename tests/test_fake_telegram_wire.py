"""Unit checks of the fake Bot API's request decoding, PNG inspection and parse_mode validation."""

from __future__ import annotations

import json

import pytest

from support.fake_telegram._markup import check_entities, visible_length
from support.fake_telegram._wire import BadRequestError, as_bool, as_chat_id, as_json, decode_body, png_size
from support.fake_telegram._wire import make_png as tiny_png


def multipart(boundary: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> bytes:
    """Build a multipart body the way httpx does (CRLF separators, quoted names)."""
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode()
        out += b"\r\n"
    for name, (filename, data) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: image/png\r\n\r\n")
        out += head.encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_keeps_binary_bytes_exactly() -> None:
    png = tiny_png()  # the PNG signature itself contains \r\n and \n: any line-ending mangling shows
    body = multipart("xYz", {"chat_id": "42", "caption": "차트"}, {"photo": ("chart.png", png)})
    params, uploads = decode_body("multipart/form-data; boundary=xYz", body)
    assert params == {"chat_id": "42", "caption": "차트"}
    assert uploads["photo"].data == png and uploads["photo"].filename == "chart.png"
    assert uploads["photo"].content_type == "image/png"


def test_form_and_json_bodies_and_query() -> None:
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
    form = f"chat_id=-100&reply_markup={json.dumps(markup)}&disable_notification=true".encode()
    params, _ = decode_body("application/x-www-form-urlencoded", form, "offset=5")
    assert as_chat_id(params) == -100 and as_json(params, "reply_markup") == markup
    assert as_bool(params, "disable_notification") and params["offset"] == "5"
    params, _ = decode_body("application/json", json.dumps({"chat_id": 1, "text": "123"}).encode())
    assert params == {"chat_id": 1, "text": "123"}
    with pytest.raises(BadRequestError):
        decode_body("application/json", b"[1, 2]")
    with pytest.raises(BadRequestError, match="chat_id is empty"):
        as_chat_id({})


def test_png_size_checks_structure() -> None:
    png = tiny_png(7, 3)
    assert png_size(png) == (7, 3)
    assert png_size(png[:-4]) is None  # truncated IEND
    corrupted = bytearray(png)
    corrupted[30] ^= 0xFF  # inside IHDR payload: CRC no longer matches
    assert png_size(bytes(corrupted)) is None
    assert png_size(b"\xff\xd8\xff\xe0 jpeg") is None


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("*굵게* _기울임_ __밑줄__ ~취소~ ||스포||", "MarkdownV2"),
        ("가격 \\+3\\.5% \\(KOSPI\\) `code with . and (x)`", "MarkdownV2"),
        ("[link](https://x.com/a_b?q=1.2) ![👍](tg://emoji?id=1)", "MarkdownV2"),
        ("```python\nprint(1.0)\n```", "MarkdownV2"),
        ("> quoted line\n**> expandable\n> end||", "MarkdownV2"),
        ("*bold _italic bold ~strike~ __under italic bold___ bold*", "MarkdownV2"),
        ("<b>bold</b> <i>i</i> <a href='https://x'>l</a> <code>a&lt;b</code> 2 < 3 &amp;", "HTML"),
        ("<blockquote expandable>q</blockquote><tg-spoiler>s</tg-spoiler>", "HTML"),
        ("*bold* _it_ `code` [l](https://x.com/a_b) 005930\\_KS", "Markdown"),
        ("plain 3.5% (x) <br> _ *", None),
    ],
)
def test_markup_accepts_what_telegram_accepts(text: str, mode: str | None) -> None:
    check_entities(text, mode)


@pytest.mark.parametrize(
    ("text", "mode", "error"),
    [
        ("price 3.5", "MarkdownV2", "Character '.' is reserved"),
        ("(KOSPI)", "MarkdownV2", "Character '(' is reserved"),
        ("a | b", "MarkdownV2", "Character '|' is reserved"),
        ("*unclosed bold", "MarkdownV2", "Can't find end of Bold entity at byte offset 0"),
        ("`unclosed", "MarkdownV2", "Can't find end of Code entity"),
        ("a<br>b", "HTML", 'Unsupported start tag "br" at byte offset 1'),
        ("<삼성>", "HTML", 'Unsupported start tag "삼성"'),
        ("<b>x</i>", "HTML", "Unmatched end tag"),
        ("<b>never closed", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
        ("005930_KS", "Markdown", "Can't find end of the entity starting at byte offset 6"),
    ],
)
def test_markup_rejects_what_telegram_rejects(text: str, mode: str, error: str) -> None:
    with pytest.raises(BadRequestError, match=error.replace("(", r"\(").replace("|", r"\|")):
        check_entities(text, mode)


def test_visible_length_ignores_markup() -> None:
    assert visible_length("<b>abc</b>&amp;", "HTML") == 4
    assert visible_length("*ab*", "MarkdownV2") == 2
    assert visible_length("*ab*", None) == 4
