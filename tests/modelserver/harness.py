"""Helpers for tests that start their own server: options, raw requests, concurrency, a slow model."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent import futures

import grpc
from tensorflow_serving.apis import predict_pb2

from modelserver import tensors
from modelserver.server.main import ModelServer, ServerOptions
from tests.modelserver.tiny_model import MODEL_NAME, pick_unused_port, request_inputs


@contextlib.contextmanager
def running_server(base: str = "", rest: bool = True, name: str = MODEL_NAME, **options):
    """A started ModelServer on free loopback ports with ``ServerOptions(**options)``; stopped after."""
    server = ModelServer(
        name,
        base,
        port=0,
        rest_api_port=pick_unused_port() if rest else 0,
        poll_seconds=0,
        options=ServerOptions(**options),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=1)


def predict_request(inputs=None, name=MODEL_NAME, signature="", version=None, label=None, output_filter=()):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, value in (request_inputs() if inputs is None else inputs).items():
        request.inputs[alias].CopyFrom(tensors.to_proto(tensors.as_array(value)))
    return request


def rpc_code(call, request, timeout: float = 10) -> grpc.StatusCode:
    """The status code of one call (OK on success)."""
    try:
        call(request, timeout=timeout)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def http(port: int, method: str, path: str, body: bytes | dict | None = None, timeout: float = 10):
    """One REST request -> (status, raw body bytes)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def concurrently(function, count: int, timeout: float = 20) -> list:
    """Calls ``function(i)`` for i < count on as many threads at once; returns results in order."""
    start = threading.Barrier(count)

    def call(i):
        start.wait()
        return function(i)

    with futures.ThreadPoolExecutor(count) as pool:
        return [f.result(timeout=timeout) for f in [pool.submit(call, i) for i in range(count)]]


@contextlib.contextmanager
def slow_model(server: ModelServer, seconds: float, signature: str = "serving_default"):
    """Makes every run of a signature of the serving version take ``seconds`` longer."""
    target = server.registry.servable().signature(signature)
    run = target.run

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return run(*args, **kwargs)

    target.run = slow
    try:
        yield target
    finally:
        target.run = run


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)
