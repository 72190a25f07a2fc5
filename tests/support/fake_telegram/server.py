"""A local, stdlib-only fake of the Telegram Bot API that the real python-telegram-bot stack talks HTTP to.

Tests and benchmarks cannot reach Telegram, and mocking PTB's ``Bot`` would skip the code that breaks in
production (request encoding, multipart uploads, error mapping to ``Forbidden``/``RetryAfter``, polling
offsets). So the fake sits at the HTTP boundary instead::

    with FakeTelegramServer() as tg:
        app = (Application.builder().token(tg.token).base_url(tg.base_url)
               .base_file_url(tg.base_file_url).build())
        ...
        tg.push_message(42, "/start")
        record = tg.wait_for(lambda r: r.chat_id == 42)

State, injection, observation and fault plans live in :mod:`._state`; method handlers in
:mod:`._methods`; this module only adds the threaded HTTP server and routing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from ._methods import BotApiMethods
from ._state import JSON
from ._wire import MAX_BODY_BYTES, BadRequestError, decode_body

_LOG = logging.getLogger(__name__)
DEFAULT_TOKEN = "123456:TEST-token"


class _HttpServer(ThreadingHTTPServer):
    """Threaded server that remembers open keep-alive sockets so :meth:`FakeTelegramServer.stop` can cut them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # PTB opens many connections at once under load; a tiny backlog adds 1 s SYN retries

    def __init__(self, fake: FakeTelegramServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, conn: socket.socket, alive: bool) -> None:
        """Add or remove a client connection from the set closed on shutdown."""
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(conn)

    def close_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive sockets."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client hang-ups are routine (PTB cancels long polls); keep test output quiet."""
        _LOG.debug("fake telegram: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes ``/bot<TOKEN>/<method>`` to the method table and ``/file/bot<TOKEN>/<path>`` to stored files."""

    protocol_version = "HTTP/1.1"  # keep-alive: PTB's httpx pool reuses connections, as with real Telegram
    timeout = 30  # idle keep-alive sockets give up their thread after this
    server: _HttpServer

    def setup(self) -> None:
        """Track the socket for shutdown; disable Nagle (headers and body go out in separate writes, and
        Nagle + delayed ACK would add ~40 ms to every call)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        """Untrack the socket even when the client vanished mid-response."""
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Route the per-request access log to debug logging instead of stderr."""
        _LOG.debug("fake telegram: " + format, *args)

    def do_POST(self) -> None:
        """Bot API calls (PTB always POSTs)."""
        self._dispatch()

    def do_GET(self) -> None:
        """Bot API calls with query-string parameters, and file downloads."""
        self._dispatch()

    def _dispatch(self) -> None:
        """Authenticate by token, decode parameters, run the method, answer JSON."""
        fake = self.server.fake
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError as exc:
            self._send_json(413 if "large" in str(exc) else 400,
                            {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        if url.path.startswith("/file/bot"):
            self._serve_file(url.path.removeprefix("/file/bot"))
            return
        prefix, _, method = url.path.removeprefix("/bot").partition("/")
        if not url.path.startswith("/bot") or not method or "/" in method:
            self._send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        if unquote(prefix) != fake.token:
            self._send_json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        try:
            params, uploads = decode_body(self.headers.get("Content-Type", ""), body, url.query)
        except BadRequestError as exc:
            self._send_json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        try:
            status, payload = fake.handle(unquote(method), params, uploads)
        except Exception as exc:  # a bug in the fake must fail the test loudly, not look like a network blip
            _LOG.exception("fake telegram: %s crashed", method)
            status, payload = 500, {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"}
        self._send_json(status, payload)

    def _serve_file(self, rest: str) -> None:
        """``/file/bot<TOKEN>/<file_path>`` as handed out by getFile."""
        token, _, file_path = rest.partition("/")
        # PTB percent-encodes the whole download path, so the token's ':' arrives as %3A
        data = self.server.fake.file_bytes(unquote(file_path)) if unquote(token) == self.server.fake.token else None
        if data is None:
            self._send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self._send_bytes(200, data, "application/octet-stream")

    def _read_body(self) -> bytes:
        """Body by Content-Length or chunked encoding, refusing more than Telegram's upload limit."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("request entity too large")
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        """Minimal chunked-transfer decoder (httpx uses it only for streamed bodies)."""
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline(1024)  # trailing CRLF after the last chunk
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("request entity too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send_json(self, status: int, payload: JSON) -> None:
        """Telegram answers every call with a JSON envelope and the error code as HTTP status."""
        self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        """Write a response; a client that already hung up (cancelled long poll) is not an error."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class FakeTelegramServer(BotApiMethods):
    """Fake Bot API on ``127.0.0.1:<random port>``; use as a context manager or call start()/stop().

    ``require_png=True`` makes sendPhoto refuse anything but a valid PNG (400 IMAGE_PROCESS_FAILED);
    ``validate_markup=False`` turns off the parse_mode checks (HTML/Markdown/MarkdownV2).
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, require_png: bool = False, validate_markup: bool = True,
                 bot_username: str = "kstock_test_bot") -> None:
        super().__init__(token, require_png=require_png, validate_markup=validate_markup,
                         bot_username=bot_username)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeTelegramServer:
        """Bind a free port and serve in a daemon thread; returns self for chaining."""
        if self._httpd is not None or self._closing.is_set():
            raise RuntimeError("FakeTelegramServer can be started once")
        self._httpd = _HttpServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-telegram-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake long polls and delays, stop accepting, cut keep-alive sockets; returns within ~1 s."""
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._httpd is None:
            raise RuntimeError("FakeTelegramServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url``; PTB appends the token itself."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for PTB's ``base_file_url`` (file downloads via getFile)."""
        return f"http://127.0.0.1:{self.port}/file/bot"
