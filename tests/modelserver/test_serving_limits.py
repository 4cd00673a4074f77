"""Request size limits and load shedding: refuse early with a status, never grow without bound."""

from __future__ import annotations

import http.client as http_client

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.modelserver.harness import (
    concurrently,
    http,
    predict_request,
    rpc_code,
    running_server,
    slow_model,
)
from tests.modelserver.tiny_model import MODEL_NAME, request_inputs

LIMIT = 64 * 1024
PREDICT = f"/v1/models/{MODEL_NAME}:predict"


@pytest.fixture(scope="module")
def limited(model_base):
    with running_server(model_base, max_request_bytes=LIMIT, max_concurrent_requests=2) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield server, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def test_oversize_grpc_message_is_resource_exhausted(limited):
    server, stub = limited
    rows = 4000  # ~130 KiB of ids
    inputs = {"user_id": ["alice"] * rows, "history": [["item_a", "item_b", "item_c"]] * rows}
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(predict_request(inputs), timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Predict(predict_request(), timeout=10).outputs["scores"].float_val


def test_tensor_declaring_a_huge_shape_is_refused_before_decoding(limited):
    _, stub = limited
    request = predict_request()
    bomb = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"item_a"])
    bomb.tensor_shape.dim.add(size=2**20)
    bomb.tensor_shape.dim.add(size=2**20)  # 2**40 elements from 6 bytes of data
    request.inputs["history"].CopyFrom(bomb)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "tensor parsing error: history" in raised.value.details()


def test_oversize_rest_body_is_413_before_it_is_read(limited):
    server, _ = limited
    status, body = http(server.rest_api_port, "POST", PREDICT, b'{"inputs": "' + b"x" * (2 * LIMIT) + b'"}')
    assert status == 413 and b"exceeds the limit" in body
    connection = http_client.HTTPConnection("127.0.0.1", server.rest_api_port, timeout=10)
    connection.putrequest("POST", PREDICT)
    connection.putheader("Content-Length", str(10**12))  # a lie: nothing that large follows
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()
    connection = http_client.HTTPConnection("127.0.0.1", server.rest_api_port, timeout=10)
    connection.request("POST", PREDICT, body=b"{}", headers={"Content-Length": "minus one"})
    assert connection.getresponse().status == 400
    connection.close()


def test_requests_beyond_the_concurrency_limit_are_shed(limited):
    server, stub = limited
    with slow_model(server, 0.4):
        codes = concurrently(lambda i: rpc_code(stub.Predict, predict_request(), 10), 6)
        statuses = concurrently(
            lambda i: http(server.rest_api_port, "POST", PREDICT, {"inputs": request_inputs()})[0], 6
        )
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert set(statuses) == {200, 429}
    assert rpc_code(stub.Predict, predict_request()) == grpc.StatusCode.OK
