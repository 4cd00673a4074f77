"""Clients for TF Serving or its local stand-in (``modelserver.server``), over gRPC and over REST.

``GrpcClient`` and ``RestClient`` have the same methods and return the same values, so callers (the
demo, batch jobs, tests) pick a transport without changing code. Neither knows a tensor name: inputs
come from the caller, outputs and metadata from the model.

Conventions shared by both:
  * ``predict`` returns numpy arrays as TF produces them; DT_STRING outputs are object arrays of
    ``bytes`` (not decoded to ``str``: ids need not be UTF-8).
  * Input dtypes come from the arrays (``modelserver.tensors.as_array``): str/bytes arrays are DT_STRING,
    Python float lists are float32. Over gRPC the dtype must match the signature exactly; over REST the
    server converts JSON with the signature's dtypes.
  * Failures raise ``modelserver.status.ServingError`` with a gRPC code (REST statuses are mapped back).
  * Calls are retried with exponential backoff on UNAVAILABLE only: over gRPC by the channel's
    service-config retry policy, over REST by ``_with_retries``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from modelserver import json_tensor, saved_model, tensors
from modelserver.status import ServingError, code_from_http

_BACKOFF_SECONDS = 0.1
_READY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED)
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),  # TF Serving answers up to 2 GiB; gRPC's default is 4 MiB
    ("grpc.max_send_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 100),  # notice a server that just came up quickly
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def _retry_policy(retries: int) -> list[tuple[str, Any]]:
    """Channel options: gRPC's own retry policy, UNAVAILABLE only, backoff 0.1 s doubling up to 1 s."""
    if retries <= 0:
        return [("grpc.enable_retries", 0)]
    policy = {
        "maxAttempts": min(retries + 1, 5),  # gRPC caps attempts at 5
        "initialBackoff": f"{_BACKOFF_SECONDS}s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    services = [
        {"service": "tensorflow.serving.PredictionService"},
        {"service": "tensorflow.serving.ModelService"},
    ]
    config = {"methodConfig": [{"name": services, "retryPolicy": policy}]}
    return [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(config))]


def _with_retries(call: Callable[[], Any], retries: int) -> Any:
    """REST's retries (urllib has no retry policy); the same schedule as the gRPC channel's."""
    for attempt in range(retries + 1):
        try:
            return call()
        except ServingError as error:
            if error.code != grpc.StatusCode.UNAVAILABLE or attempt == retries:
                raise
            time.sleep(_BACKOFF_SECONDS * 2**attempt)


def _status_list(response: dict) -> list[dict]:
    """Status JSON (TF Serving's REST shape) -> [{"version", "state", "error_code", "error_message"}]."""
    return [
        {
            "version": int(entry["version"]),
            "state": entry["state"],
            "error_code": entry.get("status", {}).get("error_code", "OK"),
            "error_message": entry.get("status", {}).get("error_message", ""),
        }
        for entry in response.get("model_version_status", [])
    ]


def _signatures(signature_def_map: get_model_metadata_pb2.SignatureDefMap) -> dict:
    """SignatureDefMap -> {signature: {"inputs"|"outputs": {alias: {"dtype", "shape"}}}}.

    TF-internal entries (``__saved_model_init_op``) are left out; shapes use -1 for unknown
    dimensions and None for unknown rank; dtypes are TF names ("string", "float32", "int64").
    """

    def info(tensor_info) -> dict:
        shape = tensor_info.tensor_shape
        dims = None if shape.unknown_rank else [d.size for d in shape.dim]
        return {"dtype": tensors.dtype_of_enum(tensor_info.dtype).name, "shape": dims}

    return {
        name: {
            "inputs": {alias: info(t) for alias, t in sorted(sig.inputs.items())},
            "outputs": {alias: info(t) for alias, t in sorted(sig.outputs.items())},
        }
        for name, sig in sorted(signature_def_map.signature_def.items())
        if not name.startswith("__")
    }


def _wait_until_ready(status: Callable[[float], list[dict]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        try:
            if any(s["state"] == "AVAILABLE" for s in status(max(0.1, min(remaining, 2.0)))):
                return
            last = "no version AVAILABLE"
        except ServingError as error:
            if error.code not in _READY_CODES:
                raise
            last = str(error)
        if remaining <= 0:
            raise TimeoutError(f"model server not ready after {timeout} s: {last}")
        time.sleep(min(0.2, max(remaining, 0)))


class GrpcClient:
    """PredictionService/ModelService client on one reused channel, with a deadline per call.

    Args:
        target: "host:port" of the gRPC server.
        model_name: the served model's name.
        timeout: deadline of each call, in seconds.
        retries: extra attempts after an UNAVAILABLE answer (backoff 0.1 s, 0.2 s, 0.4 s, ..., at most 4),
            by the channel's retry policy.
    """

    def __init__(self, target: str, model_name: str, timeout: float = 10.0, retries: int = 3):
        self.model_name = model_name
        self.timeout = timeout
        self.retries = retries
        self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS + _retry_policy(retries))
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def predict(
        self,
        inputs: Mapping[str, np.ndarray | list],
        signature_name: str = saved_model.DEFAULT_SIGNATURE,
        version: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs a signature; returns output alias -> array (DT_STRING as bytes objects)."""
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, version, signature_name)
        for alias, value in inputs.items():
            request.inputs[alias].CopyFrom(tensors.to_proto(tensors.as_array(value)))
        response = self._call(self._prediction.Predict, request)
        return {alias: tensors.from_proto(proto) for alias, proto in response.outputs.items()}

    def metadata(self, version: int | None = None) -> dict:
        """Signature name -> {"inputs": {alias: {"dtype", "shape"}}, "outputs": {...}}."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, version)
        response = self._call(self._prediction.GetModelMetadata, request)
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_def_map)
        return _signatures(signature_def_map)

    def status(self, version: int | None = None) -> list[dict]:
        """[{"version": int, "state": "AVAILABLE"|..., "error_code": "OK"|..., "error_message": str}]."""
        return self._status(self.timeout, version)

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Blocks until some version is AVAILABLE; raises TimeoutError after ``timeout`` s."""
        started = time.monotonic()
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            raise TimeoutError(f"model server not reachable after {timeout} s") from error
        _wait_until_ready(lambda t: self._status(t), timeout - (time.monotonic() - started))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _status(self, timeout: float, version: int | None = None) -> list[dict]:
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, version)
        response = self._call(self._models.GetModelStatus, request, timeout)
        return _status_list(
            json_format.MessageToDict(
                response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
        )

    def _spec(self, spec, version: int | None, signature_name: str = "") -> None:
        spec.name = self.model_name
        spec.signature_name = signature_name
        if version is not None:
            spec.version.value = version

    def _call(self, method, request, timeout: float | None = None):
        try:
            return method(request, timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise ServingError(error.code(), error.details() or "") from error


class RestClient:
    """The same client over TF Serving's REST API (``/v1/models/...``), using urllib.

    Predict uses the columnar format (``{"inputs": {...}}``). Output dtypes and the alias of a single
    output (which TF Serving omits from the JSON) come from the model's metadata, fetched once per
    signature and version and refetched if a response no longer matches it (e.g. after a hot swap).

    Args: as ``GrpcClient``; ``target`` is the REST "host:port".
    """

    def __init__(self, target: str, model_name: str, timeout: float = 10.0, retries: int = 3):
        self.model_name = model_name
        self.timeout = timeout
        self.retries = retries
        self._base = f"http://{target}/v1/models/{urllib.parse.quote(model_name, safe='')}"
        self._outputs: dict[tuple[str, int | None], dict] = {}

    def predict(
        self,
        inputs: Mapping[str, np.ndarray | list],
        signature_name: str = saved_model.DEFAULT_SIGNATURE,
        version: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs a signature; returns output alias -> array (DT_STRING as bytes objects)."""
        columns = {}
        for alias, value in inputs.items():
            array = tensors.as_array(value)
            dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
            columns[alias] = json_tensor.array_to_json(array, dtype, alias)
        body = {"signature_name": signature_name, "inputs": columns}
        self._output_dtypes(signature_name, version, refresh=False)  # before, not while, the call
        response = self._request("POST", self._path(version) + ":predict", body)
        return self._read_outputs(response["outputs"], signature_name, version)

    def metadata(self, version: int | None = None) -> dict:
        """Signature name -> {"inputs": {alias: {"dtype", "shape"}}, "outputs": {...}}."""
        response = self._request("GET", self._path(version) + "/metadata")
        signature_def_map = json_format.ParseDict(
            response["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap()
        )
        return _signatures(signature_def_map)

    def status(self, version: int | None = None) -> list[dict]:
        """[{"version": int, "state": "AVAILABLE"|..., "error_code": "OK"|..., "error_message": str}]."""
        return _status_list(self._request("GET", self._path(version)))

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Blocks until some version is AVAILABLE; raises TimeoutError after ``timeout`` s."""
        _wait_until_ready(
            lambda t: _status_list(self._request("GET", self._base, timeout=t, retries=0)), timeout
        )

    def close(self) -> None:
        """Nothing to release (one connection per request); kept for interface parity."""

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _path(self, version: int | None) -> str:
        return self._base if version is None else f"{self._base}/versions/{version}"

    def _read_outputs(self, outputs: Any, signature_name: str, version: int | None) -> dict[str, np.ndarray]:
        for refresh in (False, True):
            specs = self._output_dtypes(signature_name, version, refresh)
            if len(specs) == 1 and not (isinstance(outputs, dict) and set(outputs) == set(specs)):
                named = {next(iter(specs)): outputs}
            else:
                named = outputs
            if isinstance(named, dict) and set(named) == set(specs):
                return {alias: json_tensor.json_to_array(v, specs[alias]) for alias, v in named.items()}
        raise ServingError(
            grpc.StatusCode.INTERNAL, f"response outputs do not match signature {signature_name}"
        )

    def _output_dtypes(self, signature_name: str, version: int | None, refresh: bool) -> dict:
        key = (signature_name, version)
        if refresh or key not in self._outputs:
            signature = self.metadata(version).get(signature_name, {"outputs": {}})
            self._outputs[key] = {
                alias: tf.as_dtype(info["dtype"]) for alias, info in signature["outputs"].items()
            }
        return self._outputs[key]

    def _request(
        self,
        method: str,
        url: str,
        body: dict | None = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )

        def once() -> dict:
            try:
                with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as error:
                raise ServingError(code_from_http(error.code), _error_message(error)) from error
            except TimeoutError as error:
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, str(error)) from error
            except (urllib.error.URLError, ConnectionError) as error:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, str(error)) from error

        return _with_retries(once, self.retries if retries is None else retries)


def _error_message(error: urllib.error.HTTPError) -> str:
    raw = error.read()
    try:
        return json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", "replace") or str(error)
