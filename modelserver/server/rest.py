"""The REST front: TF Serving's ``/v1/models/...`` API (the HTTP transport is ``http_server.py``).

Paths, JSON shapes and error mapping follow ``g3doc/api_rest.md`` and ``http_rest_api_handler.cc``:
every answer is JSON (``Content-Type: application/json``), errors are ``{"error": "<message>"}`` with
the HTTP status of their gRPC code. Status and metadata reuse the gRPC front's protos, printed with
proto field names and default values as TF Serving prints them.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
from collections.abc import Mapping

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import model_pb2

from modelserver import json_tensor
from modelserver.saved_model import DEFAULT_SIGNATURE
from modelserver.server.grpc_service import SIGNATURE_DEF_FIELD, model_status, resolve_spec
from modelserver.server.messages import clip
from modelserver.server.predict import Executor, check_rows
from modelserver.server.registry import ModelRegistry
from modelserver.status import ServingError, invalid, truncate

log = logging.getLogger("modelserver")

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
    """Answers one REST request: (method, path, body) -> (HTTP status, JSON body).

    Args:
        models: model name -> registry (a live mapping: config reloads change it).
        executor: runs signatures (batched or not) and holds the metrics.
        timeout: the longest a predict request may wait for its batch, in seconds.
        max_rows: largest batch dimension of a predict request (``--max_request_rows``).
    """

    def __init__(
        self,
        models: Mapping[str, ModelRegistry],
        executor: Executor,
        timeout: float = 30.0,
        max_rows: int | None = None,
    ):
        self._models = models
        self._executor = executor
        self._timeout = timeout
        self._max_rows = max_rows

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        """Returns (HTTP status, JSON body); errors are ``{"error": message}``, the message bounded."""
        try:
            return 200, self._dispatch(method, path, body)
        except ServingError as error:
            return error.http_status, {"error": truncate(error.message)}
        except RecursionError:
            return 400, {"error": "JSON Parse error: the document is nested too deeply"}
        except Exception as error:  # noqa: BLE001 - report, never crash the server.
            log.exception("modelserver: REST %s %s failed", method, clip(path))
            return 500, {"error": truncate(f"{type(error).__name__}: {error}")}

    def _dispatch(self, method: str, path: str, body: bytes) -> dict:
        path = urllib.parse.urlsplit(path).path
        match = _PATH.match(path)
        if not path.lower().startswith("/v1/"):
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Not found: {method} {clip(path)}")
        if path.rstrip("/").lower() == "/v1/models":
            raise invalid("Missing model name in request.")
        if match is None:
            raise invalid(f"Malformed request: {method} {clip(path)}")
        spec = model_pb2.ModelSpec(name=urllib.parse.unquote(match["name"]))
        if match["version"] is not None:
            version = int(match["version"])
            if not 0 <= version <= _MAX_INT64:
                raise invalid(f"Failed to convert version: {clip(match['version'])}")
            spec.version.value = version
        elif match["label"] is not None:
            spec.version_label = urllib.parse.unquote(match["label"])
        verb = (match["verb"] or "").lower()
        if method == "GET" and verb == "":
            return _to_dict(model_status(self._models, spec))
        if method == "GET" and verb == "/metadata":
            return self._metadata(spec)
        if method == "POST" and verb == ":predict":
            return self._timed_predict(spec, body)
        if method == "POST" and verb in (":classify", ":regress"):
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"{verb[1:]} is not implemented by modelserver")
        raise invalid(f"Malformed request: {method} {clip(path)}")

    def _metadata(self, spec) -> dict:
        registry, version = resolve_spec(self._models, spec)
        servable = registry.servable(version)
        spec.version.value = servable.version
        return {
            "model_spec": _to_dict(model_pb2.ModelSpec(name=registry.name, version=spec.version)),
            "metadata": {SIGNATURE_DEF_FIELD: _to_dict(servable.signature_def_map())},
        }

    def _timed_predict(self, spec, raw: bytes) -> dict:
        start, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            return self._predict(spec, raw)
        except ServingError as error:
            code = error.code
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            raise
        finally:
            name = spec.name if spec.name in self._models else ""
            micros = (time.perf_counter() - start) * 1e6
            self._executor.metrics.record_request(name, "Predict", "REST", code, micros)

    def _predict(self, spec, raw: bytes) -> dict:
        registry, version = resolve_spec(self._models, spec)
        servable = registry.servable(version)
        body = json_tensor.read_body(raw)
        name = body.get("signature_name") or DEFAULT_SIGNATURE
        if name not in servable.signatures:
            raise invalid(f'Serving signature name: "{clip(name)}" not found in signature def')
        signature = servable.signatures[name]
        check_rows(json_rows(body), self._max_rows)  # before converting the values
        arrays, row = json_tensor.request_arrays(body, signature.inputs)
        outputs = self._executor.run(registry.name, signature, arrays, timeout=self._timeout)
        return json_tensor.response_body(outputs, signature.outputs, row)


def json_rows(body: Mapping) -> int:
    """The batch dimension of a checked predict body, read before its values are converted: the number
    of ``instances``, or the longest list among the ``inputs``."""
    if "instances" in body:
        instances = body["instances"]
        return len(instances) if isinstance(instances, list) else 0
    inputs = body["inputs"]
    values = inputs.values() if isinstance(inputs, dict) else [inputs]
    return max((len(value) for value in values if isinstance(value, list)), default=0)
