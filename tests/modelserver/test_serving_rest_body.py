"""REST request bodies: chunked transfer, bounded echoes in errors, and undecodable tf.Example bytes."""

from __future__ import annotations

import base64
import http.client as http_client
import json
import os

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from modelserver.server.messages import MAX_ECHO_CHARS
from modelserver.status import MAX_MESSAGE_CHARS
from tests.modelserver.harness import http, predict_request, running_server
from tests.modelserver.tiny_model import MODEL_NAME, example, export_model, request_inputs

LIMIT = 64 * 1024
PREDICT = f"/v1/models/{MODEL_NAME}:predict"
LONG = "x" * 10_000
CLIPPED = "x" * MAX_ECHO_CHARS + "..."
GARBAGE = b"\xff\xfe\x00\x80 not a tf.Example \xc3"


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("examples"))
    export_model(os.path.join(base, "1"), with_examples=True)
    with running_server(base, max_request_bytes=LIMIT) as server:
        yield server


def chunked_post(port: int, chunks: list[bytes], raw: bytes | None = None) -> tuple[int, dict]:
    """POSTs ``chunks`` with Transfer-Encoding: chunked (or ``raw`` as the already framed body)."""
    connection = http_client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("POST", PREDICT)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        connection.send(framed if raw is None else raw)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_chunked_body_is_read_like_a_sized_one(examples_server):
    body = json.dumps({"inputs": request_inputs()}).encode()
    status, sized = http(examples_server.rest_api_port, "POST", PREDICT, body)
    assert status == 200
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    assert chunked_post(examples_server.rest_api_port, chunks) == (200, json.loads(sized))


def test_chunked_body_over_the_limit_or_badly_framed_is_refused(examples_server):
    port = examples_server.rest_api_port
    status, answer = chunked_post(port, [b"x" * 4096] * (2 * LIMIT // 4096))
    assert status == 413 and "exceeds the limit" in answer["error"]
    status, answer = chunked_post(port, [], raw=b"zz\r\nabc\r\n0\r\n\r\n")
    assert status == 400 and answer["error"].startswith("Invalid chunked request body")
    connection = http_client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", PREDICT, body=b"{}", headers={"Transfer-Encoding": "gzip"})
    assert connection.getresponse().status == 501
    connection.close()


@pytest.mark.parametrize(
    "path, body, echo",
    [
        (PREDICT, {"signature_name": LONG, "inputs": request_inputs()}, True),
        (f"/v1/models/{LONG}:predict", {"inputs": request_inputs()}, True),
        (f"/v1/models/{MODEL_NAME}/labels/{LONG}:predict", {"inputs": request_inputs()}, True),
        (f"/v1/models/{MODEL_NAME}/{LONG}", {"inputs": request_inputs()}, True),
        (PREDICT, {"inputs": {**request_inputs(), LONG: [1]}}, False),  # JSON mapping's own message
        (PREDICT, {"inputs": {**request_inputs(), "user_id": [LONG, 1]}}, False),
    ],
)
def test_rest_errors_echo_request_fields_cut_short(examples_server, path, body, echo):
    status, raw = http(examples_server.rest_api_port, "POST", path, body)
    message = json.loads(raw)["error"]
    assert 400 <= status < 500 and len(message) <= MAX_MESSAGE_CHARS + len("...TRUNCATED")
    if echo:  # cut to MAX_ECHO_CHARS (a path echo includes its start) and marked
        assert "x" * (MAX_ECHO_CHARS + 1) not in message and "x..." in message


def test_grpc_errors_echo_request_fields_cut_short(examples_server):
    inputs = request_inputs()
    with grpc.insecure_channel(f"127.0.0.1:{examples_server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for request in (
            predict_request({"user_id": inputs["user_id"], LONG: inputs["history"]}),
            predict_request(output_filter=[LONG]),
            predict_request(signature=LONG),
            predict_request(name=LONG),
        ):
            with pytest.raises(grpc.RpcError) as raised:
                stub.Predict(request, timeout=10)
            details = raised.value.details()
            assert CLIPPED in details and "x" * (MAX_ECHO_CHARS + 1) not in details


def examples_body(*serialized: bytes, layout: str = "instances") -> dict:
    values = [{"b64": base64.b64encode(s).decode()} for s in serialized]
    if layout == "instances":
        return {"signature_name": "predict_examples", "instances": values}
    return {"signature_name": "predict_examples", "inputs": {"examples": values}}


@pytest.mark.parametrize("layout", ["instances", "inputs"])
def test_garbage_examples_get_the_models_parse_error(examples_server, layout):
    status, raw = http(examples_server.rest_api_port, "POST", PREDICT, examples_body(GARBAGE, layout=layout))
    message = json.loads(raw)["error"]
    assert status == 400
    assert "Could not parse example input" in message
    assert "utf-8" not in message and "codec" not in message
    with grpc.insecure_channel(f"127.0.0.1:{examples_server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_request(
            {"examples": np.array([GARBAGE], dtype=object)}, signature="predict_examples"
        )
        with pytest.raises(grpc.RpcError) as raised:
            stub.Predict(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Could not parse example input" in raised.value.details()


def test_valid_examples_answer_like_the_plain_features(examples_server):
    inputs = request_inputs()
    serialized = [example(u, h) for u, h in zip(inputs["user_id"], inputs["history"], strict=True)]
    status, raw = http(examples_server.rest_api_port, "POST", PREDICT, examples_body(*serialized))
    status_plain, raw_plain = http(examples_server.rest_api_port, "POST", PREDICT, {"inputs": inputs})
    assert status == status_plain == 200
    by_examples, plain = json.loads(raw)["predictions"], json.loads(raw_plain)["outputs"]
    assert [row["item_ids"] for row in by_examples] == plain["item_ids"]
    np.testing.assert_allclose([row["scores"] for row in by_examples], plain["scores"], rtol=1e-6)
