"""A barrage of malformed and hostile requests: each gets an error, and the server stays healthy.

Over gRPC with the official stubs (wrong dtypes and shapes, unknown names, broken TensorProtos,
oversize messages) and with raw bytes sent to the methods through a generic ``unary_unary``; over REST
with plain ``http.client`` (garbage bodies, wrong methods and paths, huge bodies, broken headers) and
raw sockets. Batching is on, so the requests that pass validation go through the batch scheduler too.
Afterwards a valid Predict must still give the right answer and the version stay AVAILABLE. Loopback
only, bounded in count and time.
"""

from __future__ import annotations

import http.client as http_client
import json
import random
import socket
from concurrent import futures

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from modelserver.server.batching import BatchingOptions
from tests.modelserver.harness import predict_request, running_server
from tests.modelserver.tiny_model import MODEL_NAME, request_inputs

# isort: off
import tensorflow as tf

# isort: on

LIMIT = 256 * 1024
METHODS = [f"/tensorflow.serving.PredictionService/{m}" for m in
           ("Predict", "GetModelMetadata", "Classify", "Regress", "MultiInference")] + [
    "/tensorflow.serving.ModelService/GetModelStatus",
    "/tensorflow.serving.ModelService/HandleReloadConfigRequest",
    "/tensorflow.serving.PredictionService/NoSuchMethod",
    "/no.such.Service/Predict",
]  # fmt: skip
RANDOM = random.Random(5)


def garbage(size: int) -> bytes:
    return bytes(RANDOM.getrandbits(8) for _ in range(size))


def tensor(dtype, dims, **values) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, **values)
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    return proto


def with_input(alias: str, proto) -> object:
    request = predict_request()
    request.inputs[alias].CopyFrom(proto)
    return request


def hostile_predicts() -> list:
    """PredictRequests that must all fail."""
    requests = []
    for dtype in (np.float32, np.float64, np.int32, np.int64, np.bool_, np.uint8, np.int8, np.float16):
        requests.append(predict_request({"user_id": np.zeros(2, dtype), "history": [["a"] * 3] * 2}))
        requests.append(predict_request({"user_id": ["u", "v"], "history": np.ones((2, 3), dtype)}))
    shapes = [(2, 4), (2,), (2, 3, 1), (0,), (3, 2), (1, 1, 1, 1)]
    requests += [predict_request({"user_id": ["u", "v"], "history": np.full(s, "a", object)}) for s in shapes]
    requests.append(predict_request({"user_id": "alice", "history": [["a"] * 3]}))  # scalar
    for _ in range(60):
        name = "".join(RANDOM.choice("abcxyz_é€\x00/:") for _ in range(RANDOM.randint(1, 40)))
        requests.append(predict_request(name=name))
    requests += [predict_request(name="x" * 100_000), predict_request(name="")]
    requests += [predict_request(version=RANDOM.choice([0, 2, 99, 2**62, -5])) for _ in range(20)]
    requests += [predict_request(label=f"label{i}") for i in range(20)]
    requests += [
        predict_request(signature=s) for s in ("nope", "score ", "SERVING_DEFAULT", "__saved_model_init_op")
    ]
    requests += [predict_request(signature=f"sig{i}") for i in range(16)]
    inputs = request_inputs()
    requests += [
        predict_request({}), predict_request({"user_id": inputs["user_id"]}),
        predict_request({**inputs, "extra": ["x"]}),
        predict_request({"user_id": ["u"], "histories": [["a"] * 3]}),
        predict_request(output_filter=["nope"]), predict_request(output_filter=["scores", "scores"]),
        predict_request(signature="score"),
    ]  # fmt: skip
    broken = [
        tensor(types_pb2.DT_INVALID, [2]),
        tensor(types_pb2.DT_RESOURCE, [2]),
        tensor(types_pb2.DT_VARIANT, [2]),
        tensor(types_pb2.DT_STRING, [-1, 3], string_val=[b"a"]),
        tensor(types_pb2.DT_STRING, [2**20, 2**20], string_val=[b"a"]),  # decodes to 2**40 elements
        tensor(types_pb2.DT_STRING, [2] * 40, string_val=[b"a"]),
        tensor(types_pb2.DT_FLOAT, [2, 3], tensor_content=b"\x00" * 7),  # content not a multiple of 4
        tensor(types_pb2.DT_FLOAT, [2, 3], float_val=[1.0] * 50),
        tensor(types_pb2.DT_STRING, [2, 3], string_val=[b"a"] * 7),  # more values than elements
        tensor(types_pb2.DT_INT64, [2, 3], tensor_content=b"\x00" * 9),
        tensor(types_pb2.DT_HALF, [2, 3], half_val=[70000]),
        tensor(types_pb2.DT_COMPLEX64, [2, 3], scomplex_val=[1.0, 2.0]),
    ]
    requests += [with_input("history", proto) for proto in broken]
    rows = 12_000  # a message over LIMIT
    requests.append(predict_request({"user_id": ["u"] * rows, "history": [["item_a"] * 3] * rows}))
    return requests


def grpc_barrage(channel) -> list[tuple[str, grpc.StatusCode]]:
    """Sends every hostile gRPC request; returns (what, status code)."""
    predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
    service = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    calls = [(f"Predict #{i}", predict, r) for i, r in enumerate(hostile_predicts())]
    for field in ([], ["signature_def", "nope"], ["x"] * 3):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=field)
        request.model_spec.name = MODEL_NAME
        calls.append((f"GetModelMetadata {field}", service.GetModelMetadata, request))
    for name, version in [("nope", None), (MODEL_NAME, 42), ("", None), (MODEL_NAME, -1)]:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        calls.append((f"GetModelStatus {name} {version}", models.GetModelStatus, request))
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = MODEL_NAME
    calls.append(("Classify", service.Classify, classify))
    for i in range(160):
        method = METHODS[i % len(METHODS)]
        raw = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        calls.append((f"raw {method} #{i}", raw, garbage(RANDOM.choice([1, 7, 64, 1000, 5000]))))

    def send(call):
        what, method, request = call
        try:
            method(request, timeout=10)
        except grpc.RpcError as error:
            return what, error.code()
        return what, grpc.StatusCode.OK

    with futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, calls))


def rest_requests() -> list[tuple[str, str, bytes, dict]]:
    """(method, path, body, extra headers) that must all fail."""
    predict = f"/v1/models/{MODEL_NAME}:predict"
    good = {"inputs": request_inputs()}
    requests = [("POST", predict, garbage(RANDOM.choice([1, 10, 100, 5000])), {}) for _ in range(120)]
    bodies = [b"", b"{", b"[]", b"null", b"1", b'"x"', b"{}", b'{"inputs": 1, "instances": []}',
              b'{"instances": {}}', b'{"instances": []}', b'{"signature_name": 5, "inputs": {}}',
              b'{"inputs": {"user_id": [1], "history": [[1, 2, 3]]}}',
              b'{"inputs": {"user_id": [["a"], "b"]}}',
              b'{"inputs": {"user_id": ["a"], "history": [["a"], ["b", "c"]]}}', b"\xff\xfe{}",
              b'{"inputs": {"user_id": [{"b64": "!!!"}], "history": [["a","b","c"]]}}',
              b'{"inputs": {"user_id": ["a"], "history": [[NaN, "b", "c"]]}}',
              b'{"instances": [{"user_id": "a"}]}', b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
              b'{"inputs": {"user_id": ["a"], "history": [["a","b","c"]], "extra": [1]}}']  # fmt: skip
    requests += [("POST", predict, body, {}) for body in bodies]
    for value in (None, True, 1.5, 10**30, -1, {"a": 1}, [[[]]], "x" * 10_000):
        for alias in ("user_id", "history"):
            body = {"inputs": {**request_inputs(), alias: value}}
            requests.append(("POST", predict, json.dumps(body).encode(), {}))
    model = f"/v1/models/{MODEL_NAME}"
    paths = ["/", "/v1", "/v1/models", "/v1/models/", f"{model}/versions/x:predict",
             f"{model}/versions/99999999999999999999:predict", f"{model}:explode",
             f"{model}/versions/1/labels/a:predict", f"{model}/version/1:predict",
             "/v2/models/x/infer", "/%00%ff", "/v1/models/%2e%2e/etc", "/v1/" + "a/" * 1000]  # fmt: skip
    paths += [f"/v1/models/name{i}:predict" for i in range(15)]
    paths += [f"/v1/models/{MODEL_NAME}/labels/l{i}:predict" for i in range(10)]
    paths += [f"/v1/models/{MODEL_NAME}/versions/{v}:predict" for v in (0, 2, 7, 123456)]
    requests += [("POST", p, json.dumps(good).encode(), {}) for p in paths]
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        requests.append((method, predict, json.dumps(good).encode(), {}))
    requests += [("POST", f"/v1/models/{MODEL_NAME}{v}", b"{}", {}) for v in ("", "/metadata", "/versions/1")]
    requests += [("POST", predict, b"x" * (2 * LIMIT), {})] * 3
    requests += [("POST", predict, b"{}", {"Content-Length": v}) for v in ("-5", "abc", "1e3")]
    return requests


def rest_barrage(port: int) -> list[tuple[str, int]]:
    def send(item):
        method, path, body, headers = item
        connection = http_client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            headers = {"Content-Length": str(len(body)), **headers}
            for key, value in headers.items():
                connection.putheader(key, value)
            connection.endheaders(body)
            return f"{method} {path[:60]} {body[:40]!r}", connection.getresponse().status
        finally:
            connection.close()

    with futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, rest_requests()))
    for i in range(12):  # not HTTP at all
        with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
            raw.sendall(garbage(RANDOM.choice([5, 50, 500])).replace(b"\n", b" ") + b"\r\n\r\n")
            answer = raw.recv(64)
        results.append((f"raw socket #{i}", int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0))
    return results


@pytest.fixture(scope="module")
def hardened(model_base):
    batching = BatchingOptions(max_batch_size=64, batch_timeout_micros=1000, num_batch_threads=2)
    with running_server(model_base, max_request_bytes=LIMIT, batching=batching) as server:
        yield server


def test_server_answers_every_hostile_request_with_an_error_and_stays_healthy(hardened, loaded_v1):
    with grpc.insecure_channel(f"127.0.0.1:{hardened.port}") as channel:
        grpc_results = grpc_barrage(channel)
        rest_results = rest_barrage(hardened.rest_api_port)
        assert len(grpc_results) + len(rest_results) >= 500
        assert [what for what, code in grpc_results if code == grpc.StatusCode.OK] == []
        assert [(what, status) for what, status in rest_results if not 400 <= status < 600] == []
        internal = [what for what, code in grpc_results if code == grpc.StatusCode.UNKNOWN]
        assert internal == []  # every failure has a meaningful status

        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_request(), timeout=10
        )
        expected = loaded_v1.signatures["serving_default"](
            **{k: tf.constant(v) for k, v in request_inputs().items()}
        )
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["scores"]), expected["scores"].numpy())
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL_NAME
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
        assert [s.state for s in status.model_version_status] == [
            get_model_status_pb2.ModelVersionStatus.AVAILABLE
        ]
    body = json.dumps({"inputs": request_inputs()}).encode()
    connection = http_client.HTTPConnection("127.0.0.1", hardened.rest_api_port, timeout=10)
    connection.request("POST", f"/v1/models/{MODEL_NAME}:predict", body=body)
    assert connection.getresponse().status == 200
    connection.close()
