"""Wire-level helpers for the fake Bot API: request-body decoding, parameter coercion, PNG inspection.

PTB sends parameters as ``application/x-www-form-urlencoded`` where *string* values are raw and every
other value is JSON-encoded (``RequestData.json_parameters``), and switches to ``multipart/form-data``
when a file is uploaded. Other clients (curl, aiohttp) send a JSON body. These helpers normalise all
three into one ``dict`` plus the uploaded files, so the method handlers never care about encoding.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BODY_BYTES = 50 * 1024 * 1024  # Telegram's own upload limit for bots


class BadRequestError(ValueError):
    """A parameter is missing or malformed; answered as Telegram's 400 ``Bad Request: ...``."""


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request, kept as raw bytes so tests can inspect what was sent."""

    field: str
    filename: str
    content_type: str
    data: bytes


def decode_body(content_type: str, body: bytes, query: str = "") -> tuple[dict[str, Any], dict[str, Upload]]:
    """Turn a request (query string + body of any supported encoding) into ``(params, uploads)``."""
    params: dict[str, Any] = _form_fields(query) if query else {}
    uploads: dict[str, Upload] = {}
    mime = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params, uploads
    if mime == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise BadRequestError("can't parse JSON object") from exc
        if not isinstance(decoded, dict):
            raise BadRequestError("can't parse JSON object")
        params.update(decoded)
    elif mime == "multipart/form-data":
        fields, uploads = _multipart(content_type, body)
        params.update(fields)
    else:  # Telegram treats anything else as url-encoded form data
        params.update(_form_fields(body.decode("utf-8", "replace")))
    return params, uploads


def _form_fields(encoded: str) -> dict[str, Any]:
    """Last value wins for repeated keys, as Telegram does."""
    return {key: values[-1] for key, values in parse_qs(encoded, keep_blank_values=True).items()}


def _header_params(header_block: bytes) -> Message:
    """Parse a part's header lines with the stdlib so quoted/RFC 2231 parameters decode correctly."""
    msg = Message()
    for line in header_block.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            msg[name.strip()] = value.strip()
    return msg


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Split ``multipart/form-data`` by hand: the email parser mangles binary parts (PNG has CR/LF bytes)."""
    holder = Message()
    holder["content-type"] = content_type
    boundary = holder.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise BadRequestError("multipart body without boundary")
    fields: dict[str, Any] = {}
    uploads: dict[str, Upload] = {}
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise BadRequestError("malformed multipart part")
        headers = _header_params(head)
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = headers.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        else:
            ctype = headers.get_content_type() if headers.get("content-type") else "application/octet-stream"
            uploads[name] = Upload(name, filename, ctype, data)
    return fields, uploads


def as_int(params: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """Integer parameter that may arrive as JSON number or as form text."""
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequestError(f"invalid {key} specified") from exc


def as_chat_id(params: dict[str, Any], key: str = "chat_id") -> int | str:
    """Chat ids are integers, or ``@username`` strings for public chats."""
    value = params.get(key)
    if value is None or value == "":
        raise BadRequestError(f"{key} is empty")
    if isinstance(value, str) and value.startswith("@"):
        return value
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequestError("chat not found") from exc


def as_json(params: dict[str, Any], key: str) -> Any:
    """Structured parameter (reply_markup, commands, ...) that PTB sends JSON-encoded inside a form field."""
    value = params.get(key)
    if isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BadRequestError(f"can't parse {key} JSON object") from exc
    return value


def as_bool(params: dict[str, Any], key: str) -> bool:
    """Booleans arrive as JSON ``true``/``false`` or as form text of the same."""
    value = params.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def as_text(params: dict[str, Any], key: str) -> str | None:
    """String parameter; a JSON body could carry a number where text is expected, so coerce."""
    value = params.get(key)
    return None if value is None else str(value)


def png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` when ``data`` is a structurally valid PNG (every chunk CRC checked), else None.

    Checking the CRCs, not just the signature, catches truncated or text-mode-mangled uploads.
    """
    if not data.startswith(PNG_SIGNATURE):
        return None
    pos, size, seen_end = len(PNG_SIGNATURE), None, False
    while pos + 12 <= len(data) and not seen_end:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        crc_bytes = data[pos + 8 + length : pos + 12 + length]
        if len(payload) != length or len(crc_bytes) != 4:
            return None
        if zlib.crc32(ctype + payload) != struct.unpack(">I", crc_bytes)[0]:
            return None
        if ctype == b"IHDR" and length >= 8:
            size = struct.unpack(">II", payload[:8])
        seen_end = ctype == b"IEND"
        pos += 12 + length
    if size is None or not seen_end or 0 in size:
        return None
    return int(size[0]), int(size[1])


def make_png(width: int = 3, height: int = 2) -> bytes:
    """A small valid RGB PNG built with zlib, so tests can send photos without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets/lengths in UTF-16 code units (emoji count as two)."""
    return len(text.encode("utf-16-le")) // 2
