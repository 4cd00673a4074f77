"""The HTTP transport of the REST front: the standard library's threading server, with limits.

``rest.RestApi`` answers ``/v1/...`` requests; this module reads them off the socket and protects the
process while doing so: a body larger than ``max_request_bytes`` is refused with 413 before it is read
(a ``Transfer-Encoding: chunked`` body as soon as its chunks pass the limit), an invalid
``Content-Length`` or chunk framing with 400, and once ``max_concurrent_requests`` requests are in flight
new ones are shed with 429 (RESOURCE_EXHAUSTED's HTTP status) instead of piling up threads. With monitoring
on, the Prometheus text exposition is served on its own path of the same port, as in TF Serving.
"""

from __future__ import annotations

import http.server
import json
import logging
import sys
import threading
import time

from modelserver.server.messages import clip
from modelserver.server.metrics import CONTENT_TYPE, ServingMetrics
from modelserver.server.rest import RestApi

log = logging.getLogger("modelserver")

_DRAIN_SECONDS = 1.0  # at most this long spent reading an unwanted body so the client sees our answer


class _Handler(http.server.BaseHTTPRequestHandler):
    # set on the subclass made by make_http_server
    api: RestApi
    metrics: ServingMetrics
    monitoring_path: str | None
    max_request_bytes: int
    slots: threading.BoundedSemaphore
    # HTTP/1.0 (one request per connection): an idle keep-alive connection would hold up a graceful stop.
    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"  # so an unparseable request line still gets a status line
    timeout = 30  # seconds to read a request (TF Serving's --rest_api_timeout_in_ms default)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.monitoring_path and self.path.split("?")[0] == self.monitoring_path:
            self._send(200, CONTENT_TYPE, self.metrics.exposition().encode("utf-8"))
            return
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def do_PUT(self):  # noqa: N802
        self._answer("PUT")

    def do_DELETE(self):  # noqa: N802
        self._answer("DELETE")

    def do_PATCH(self):  # noqa: N802
        self._answer("PATCH")

    def do_OPTIONS(self):  # noqa: N802
        self._answer("OPTIONS")

    def _answer(self, method: str) -> None:
        chunked = self._chunked()
        length = 0 if chunked else self._content_length()
        if chunked is None or length is None:
            return
        if length > self.max_request_bytes:
            self._too_large(length)
            self._drain(length)
            return
        if not self.slots.acquire(blocking=False):
            self._send_json(429, {"error": "Too many requests in flight; the server is shedding load"})
            self._drain(length if not chunked else self.max_request_bytes)
            return
        try:
            if chunked:
                body = self._read_chunks()
            else:
                body = self.rfile.read(length) if length else b""
            if body is not None:
                status, payload = self.api.handle(method, self.path, body)
                self._send_json(status, payload)
        finally:
            self.slots.release()

    def _chunked(self) -> bool | None:
        """Whether the body comes in chunks; None (answered 501) for a transfer coding we cannot read."""
        coding = self.headers.get("Transfer-Encoding")
        if coding is None:
            return False
        if coding.strip().lower() == "chunked":
            return True
        self._send_json(501, {"error": f"Transfer-Encoding {clip(coding)} is not supported; use chunked"})
        return None

    def _content_length(self) -> int | None:
        """The declared body length; None (answered 400) when it is not a non-negative integer."""
        header = self.headers.get("Content-Length")
        try:
            length = int(header) if header is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            self._send_json(400, {"error": f"Invalid Content-Length: {clip(header)}"})
            return None
        return length

    def _read_chunks(self) -> bytes | None:
        """Reads a chunked body (RFC 9112 7.1); None when it was refused (413, or 400 for bad framing)."""
        parts, total = [], 0
        try:
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size < 0:
                    raise ValueError(f"negative chunk size {size}")
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailer fields, up to the empty line
                        pass
                    return b"".join(parts)
                total += size
                if total > self.max_request_bytes:
                    self._too_large(total)
                    self._drain(self.max_request_bytes)
                    return None
                parts.append(self.rfile.read(size))
                if len(parts[-1]) != size or self.rfile.readline(1024).strip():
                    raise ValueError("chunk shorter than its size, or not followed by CRLF")
        except ValueError as error:
            self._send_json(400, {"error": f"Invalid chunked request body: {clip(error)}"})
            return None

    def _too_large(self, length: int) -> None:
        message = f"Request body of {length} bytes exceeds the limit of {self.max_request_bytes}"
        self._send_json(413, {"error": message})

    def _send_json(self, status: int, payload: dict) -> None:
        self._send(status, "application/json", json.dumps(payload).encode("utf-8"))

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drain(self, length: int) -> None:
        """Reads (and drops) some of a refused body: closing a socket with unread data resets the
        connection, and the client would see the reset instead of our answer."""
        deadline = time.monotonic() + _DRAIN_SECONDS
        remaining = min(length, 4 * self.max_request_bytes)
        try:
            self.connection.settimeout(0.2)
            while remaining > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:  # includes the read timeout
            pass

    def log_message(self, format, *args):  # noqa: A002 - keep access logs out of the server log
        log.debug("modelserver: REST " + format, *args)


class HttpServer(http.server.ThreadingHTTPServer):
    """Joins in-flight request threads on close, so a graceful stop lets them finish."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """A client that hangs up mid-answer is routine, not a server error worth a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("modelserver: REST client %s went away: %s", client_address, error)
        else:
            log.exception("modelserver: REST request from %s failed", client_address)


def make_http_server(
    api: RestApi,
    metrics: ServingMetrics,
    host: str,
    port: int,
    monitoring_path: str | None = None,
    max_request_bytes: int = 32 * 2**20,
    max_concurrent_requests: int = 128,
    timeout: float = 30.0,
) -> HttpServer:
    """Binds the REST API to ``host:port`` (0 picks a free port; read it from ``server_address``)."""
    attributes = {
        "api": api,
        "metrics": metrics,
        "monitoring_path": monitoring_path,
        "max_request_bytes": max_request_bytes,
        "slots": threading.BoundedSemaphore(max_concurrent_requests),
        "timeout": timeout,
    }
    return HttpServer((host, port), type("RestHandler", (_Handler,), attributes))
