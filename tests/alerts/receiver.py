"""A real HTTP server on 127.0.0.1 that records requests and answers as a test scripts it.

Tests of anything that sends HTTP (channels, the delivery worker) point it here instead of at
WeCom, DingTalk or Feishu::

    with Receiver() as receiver:
        receiver.fail_next(2, status=500)           # the next two requests get HTTP 500
        receiver.reply("/hook", json={"errcode": 45009, "errmsg": "api freq out of limit"})
        send_something(receiver.url("/hook?key=abc"))
        first, second, third = receiver.wait_for(3)
        assert third.json()["msgtype"] == "markdown"

How a request is answered, first match wins:

1. the next one-shot reply queued for its path (``fail_next(..., path=...)``, ``queue``);
2. the next one-shot reply queued for any path (``fail_next(...)`` without ``path``);
3. the standing reply for its path (``reply(path, ...)``), then the standing reply for any path
   (``reply(None, ...)``);
4. :data:`OK_BODY` with HTTP 200, which every vendor's client reads as "delivered".

A reply may ``delay`` (seconds) before answering, to make a client time out; closing the
receiver cuts such waits short. Paths are matched without their query string. Each request is
recorded (:class:`Received`) before its reply is chosen, delayed ones included.

:func:`refused_url` gives an address where nothing listens, for "connection refused".
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Success as WeCom and DingTalk (errcode) and Feishu (code, StatusCode) each report it.
OK_BODY: dict[str, Any] = {
    "errcode": 0,
    "errmsg": "ok",
    "code": 0,
    "msg": "success",
    "StatusCode": 0,
    "StatusMessage": "success",
}


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str  # without the query string
    query: dict[str, str]  # decoded; the last value of a repeated parameter
    raw_query: str  # exactly as sent, to check how values were encoded
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float  # time.monotonic()

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """How to answer one request."""

    status: int = 200
    json: Any = None  # serialised as the body when ``body`` is None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        """The body bytes and headers to send."""
        if self.body is not None:
            return self.body, dict(self.headers)
        payload = OK_BODY if self.json is None and self.status == 200 else self.json
        body = b"" if payload is None else json.dumps(payload).encode()
        return body, {"Content-Type": "application/json; charset=utf-8", **self.headers}


class Receiver:
    """The server, its log of requests and its scripted replies; a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._requests: list[Received] = []
        self._once: dict[str | None, deque[Reply]] = {}
        self._standing: dict[str | None, Reply] = {}
        self._closing = threading.Event()
        self._server = _QuietServer((host, 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; waits cut short, the port released. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- addresses ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:<port><path>``; ``path`` may carry a query string."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    # --- scripting ----------------------------------------------------------------------
    def reply(
        self,
        path: str | None = None,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer every later request to ``path`` (None: any path) this way, until changed."""
        with self._lock:
            self._standing[_path_key(path)] = Reply(status, json, body, headers or {}, delay)

    def queue(self, reply: Reply, *, path: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` (None: any path) with ``reply``."""
        with self._lock:
            self._once.setdefault(_path_key(path), deque()).extend([reply] * times)

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        json: Any = None,
        path: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``n`` requests (to ``path``, or any) with ``status`` and ``json``."""
        self.queue(Reply(status, json, None, {}, delay), path=path, times=n)

    def reset(self) -> None:
        """Forget recorded requests and every scripted reply."""
        with self._lock:
            self._requests.clear()
            self._once.clear()
            self._standing.clear()

    # --- what arrived -------------------------------------------------------------------
    @property
    def requests(self) -> list[Received]:
        """The requests recorded so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} request(s) within {timeout} s, got {len(self._requests)}"
                    )
                self._arrived.wait(remaining)
            return list(self._requests)

    # --- called by the handler ----------------------------------------------------------
    def _record(self, request: Received) -> Reply:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            for key in (request.path, None):
                pending = self._once.get(key)
                if pending:
                    return pending.popleft()
            for key in (request.path, None):
                if key in self._standing:
                    return self._standing[key]
            return Reply()

    def _pause(self, seconds: float) -> None:
        self._closing.wait(seconds)


@contextmanager
def refused_url(path: str = "/") -> Iterator[str]:
    """An address on 127.0.0.1 where connecting is refused, for as long as the block runs.

    The port stays bound (so no other test can take it) but never listens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/{path.lstrip('/')}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still delaying must not hold up close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # clients hanging up mid-request is what timeout tests do
        super().handle_error(request, client_address)


def _path_key(path: str | None) -> str | None:
    if path is None:
        return None
    return "/" + urlsplit(path).path.lstrip("/")


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            request = Received(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                raw_query=parts.query,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self._read_body(),
                received_at=time.monotonic(),
            )
            reply = receiver._record(request)
            if reply.delay:
                receiver._pause(reply.delay)
            body, headers = reply.encoded()
            try:
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a timeout test): nothing left to answer

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
