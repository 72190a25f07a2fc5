"""Media methods of the fake Bot API: sendPhoto and sendDocument keep the uploaded bytes, getFile and
``base_file_url`` serve them back, and a file_id sent again costs no upload (as on Telegram)."""

from __future__ import annotations

import itertools

from ._messages import MessageMethods, _caption_field, _loggable
from ._state import JSON, SentRecord
from ._wire import BadRequestError, Upload, as_chat_id, as_text, png_size


class MediaMethods(MessageMethods):
    """Photos and documents; the caption and keyboard checks are the message methods'."""

    require_png: bool  # set by BotApiMethods.__init__
    _file_seq: itertools.count  # file ids, set by BotApiMethods.__init__

    def _send_photo(self, params: JSON, uploads: dict[str, Upload]) -> JSON:
        """sendPhoto: keeps the uploaded bytes; with ``require_png`` a non-PNG fails like a broken image."""
        chat_id, parse_mode = as_chat_id(params), as_text(params, "parse_mode")
        caption = self._checked_caption(params, parse_mode)
        data, _name = self._file_param(params, uploads, "photo")
        size = png_size(data) if data is not None else None
        if data is not None and self.require_png and size is None:
            raise BadRequestError("IMAGE_PROCESS_FAILED")
        file_id = self._store_file(data, "photos", "png" if size else "jpg")
        width, height = size or (0, 0)
        photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": width, "height": height,
                  "file_size": len(data or b"")}]
        markup = self._checked_markup(params)
        message = self._bot_message(chat_id, {"photo": photo, **_caption_field(caption)}, markup)
        self._record(SentRecord("sendPhoto", chat_id, message["message_id"], caption or "", caption, parse_mode,
                                markup, photo=data, params=_loggable(params)))
        return message

    def _send_document(self, params: JSON, uploads: dict[str, Upload]) -> JSON:
        """sendDocument: keeps bytes and file name."""
        chat_id, parse_mode = as_chat_id(params), as_text(params, "parse_mode")
        caption = self._checked_caption(params, parse_mode)
        data, name = self._file_param(params, uploads, "document")
        file_id = self._store_file(data, "documents", (name or "file").rsplit(".", 1)[-1])
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name or "file",
                    "file_size": len(data or b"")}
        markup = self._checked_markup(params)
        message = self._bot_message(chat_id, {"document": document, **_caption_field(caption)}, markup)
        self._record(SentRecord("sendDocument", chat_id, message["message_id"], caption or "", caption, parse_mode,
                                markup, document=data, filename=name, params=_loggable(params)))
        return message

    def _get_file(self, params: JSON, _uploads: dict[str, Upload]) -> JSON:
        """File info for something the bot uploaded; download it from ``base_file_url``."""
        file_id = as_text(params, "file_id") or ""
        with self._cond:
            if file_id not in self._files:
                raise BadRequestError("invalid file_id")
            data, path = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}

    def file_bytes(self, file_path: str) -> bytes | None:
        """Content served under ``base_file_url`` for a path handed out by getFile."""
        with self._cond:
            return next((data for data, path in self._files.values() if path == file_path), None)

    def _file_param(self, params: JSON, uploads: dict[str, Upload], key: str) -> tuple[bytes | None, str | None]:
        """Uploaded bytes (part named ``key`` or an ``attach://`` reference), a known file_id, or a URL."""
        value = as_text(params, key)
        upload = uploads.get(key)
        if value and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            if not upload.data:
                raise BadRequestError("file must be non-empty")
            return upload.data, upload.filename
        with self._cond:
            if value in self._files:
                return self._files[value][0], None
        if value and value.startswith(("http://", "https://")):
            return None, value.rsplit("/", 1)[-1]
        raise BadRequestError(f"there is no {key} in the request" if not value
                              else "wrong file identifier/HTTP URL specified")

    def _store_file(self, data: bytes | None, folder: str, ext: str) -> str:
        """Keep uploaded bytes so getFile + base_file_url can serve them back; returns the file_id."""
        with self._cond:
            seq = next(self._file_seq)
            file_id = f"fake-{folder}-{seq}"
            if data is not None:
                self._files[file_id] = (data, f"{folder}/file_{seq}.{ext}")
        return file_id
