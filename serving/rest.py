"""The REST front: TF Serving's ``/v1/models/...`` API on the standard library's threading HTTP server.

Paths, JSON shapes and error mapping follow ``g3doc/api_rest.md`` and ``http_rest_api_handler.cc``:
every answer is JSON (``Content-Type: application/json``), errors are ``{"error": "<message>"}`` with
the HTTP status of their gRPC code. Status and metadata reuse the gRPC front's protos, printed with
proto field names and default values as TF Serving prints them.
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import urllib.parse
from collections.abc import Mapping

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import model_pb2

from serving import json_tensor
from serving.grpc_service import SIGNATURE_DEF_FIELD, model_status, resolve_spec
from serving.registry import ModelRegistry
from serving.servable import DEFAULT_SIGNATURE
from serving.status import ServingError, invalid

log = logging.getLogger("msrec.serving")

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>-?\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<verb>/metadata|:predict|:classify|:regress)?$",
    re.IGNORECASE,
)
_MAX_INT64 = 2**63 - 1


def _to_dict(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class RestApi:
    """Answers one REST request: (method, path, body) -> (HTTP status, JSON body)."""

    def __init__(self, models: Mapping[str, ModelRegistry]):
        self._models = models

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        try:
            return 200, self._dispatch(method, path, body)
        except ServingError as error:
            return error.http_status, {"error": error.message}
        except Exception as error:  # noqa: BLE001 - report, never crash the server.
            log.exception("msrec serve: REST %s %s failed", method, path)
            return 500, {"error": f"{type(error).__name__}: {error}"}

    def _dispatch(self, method: str, path: str, body: bytes) -> dict:
        path = urllib.parse.urlsplit(path).path
        match = _PATH.match(path)
        if not path.lower().startswith("/v1/"):
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Not found: {method} {path}")
        if path.rstrip("/").lower() == "/v1/models":
            raise invalid("Missing model name in request.")
        if match is None:
            raise invalid(f"Malformed request: {method} {path}")
        spec = model_pb2.ModelSpec(name=urllib.parse.unquote(match["name"]))
        if match["version"] is not None:
            version = int(match["version"])
            if not 0 <= version <= _MAX_INT64:
                raise invalid(f"Failed to convert version: {match['version']}")
            spec.version.value = version
        elif match["label"] is not None:
            spec.version_label = urllib.parse.unquote(match["label"])
        verb = (match["verb"] or "").lower()
        if method == "GET" and verb == "":
            return _to_dict(model_status(self._models, spec))
        if method == "GET" and verb == "/metadata":
            return self._metadata(spec)
        if method == "POST" and verb == ":predict":
            return self._predict(spec, body)
        if method == "POST" and verb in (":classify", ":regress"):
            raise ServingError(
                grpc.StatusCode.UNIMPLEMENTED, f"{verb[1:]} is not implemented by the msrec local server"
            )
        raise invalid(f"Malformed request: {method} {path}")

    def _metadata(self, spec) -> dict:
        registry, version = resolve_spec(self._models, spec)
        servable = registry.servable(version)
        spec.version.value = servable.version
        return {
            "model_spec": _to_dict(model_pb2.ModelSpec(name=registry.name, version=spec.version)),
            "metadata": {SIGNATURE_DEF_FIELD: _to_dict(servable.signature_def_map())},
        }

    def _predict(self, spec, raw: bytes) -> dict:
        registry, version = resolve_spec(self._models, spec)
        servable = registry.servable(version)
        body = json_tensor.read_body(raw)
        name = body.get("signature_name") or DEFAULT_SIGNATURE
        if name not in servable.signatures:
            raise invalid(f'Serving signature name: "{name}" not found in signature def')
        signature = servable.signatures[name]
        arrays, row = json_tensor.request_arrays(body, signature.inputs)
        outputs = signature.run(arrays)
        return json_tensor.response_body(outputs, signature.outputs, row)


class _Handler(http.server.BaseHTTPRequestHandler):
    api: RestApi  # set on the subclass made by make_http_server
    # HTTP/1.0 (one request per connection): an idle keep-alive connection would hold up a graceful stop.
    protocol_version = "HTTP/1.0"
    timeout = 30  # seconds to read a request, like TF Serving's --rest_api_timeout_in_ms default

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer("GET", b"")

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._answer("POST", self.rfile.read(length) if length > 0 else b"")

    def do_PUT(self):  # noqa: N802
        self._answer("PUT", self._drain())

    def do_DELETE(self):  # noqa: N802
        self._answer("DELETE", self._drain())

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, method: str, body: bytes) -> None:
        status, payload = self.api.handle(method, self.path, body)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - keep access logs out of the server log
        log.debug("msrec serve: REST " + format, *args)


class HttpServer(http.server.ThreadingHTTPServer):
    """Joins in-flight request threads on close, so a graceful stop lets them finish."""

    daemon_threads = False
    block_on_close = True


def make_http_server(models: Mapping[str, ModelRegistry], host: str, port: int) -> HttpServer:
    """Binds the REST API to ``host:port`` (0 picks a free port; read it from ``server_address``)."""
    handler = type("RestHandler", (_Handler,), {"api": RestApi(models)})
    return HttpServer((host, port), handler)
