"""--max_request_rows bounds the rows of any Predict request; --max_execution_rows runs them in slices."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from modelserver.server.config_protos import ConfigError
from modelserver.server.options import ServerConfig, parse_args, resolve
from modelserver.server.servable import Servable
from tests.modelserver.harness import http, predict_request, running_server
from tests.modelserver.tiny_model import MODEL_NAME, request_inputs

# isort: off
import tensorflow as tf

# isort: on

CAP = 4
PREDICT = f"/v1/models/{MODEL_NAME}:predict"
TOO_MANY = f"request has {CAP + 1} rows; this server accepts at most {CAP} per request (--max_request_rows)"


def rows(count: int) -> dict:
    return {"user_id": ["alice"] * count, "history": [["item_b", "item_c", ""]] * count}


@pytest.fixture(scope="module")
def capped(model_base):
    with running_server(model_base, max_request_rows=CAP) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield server, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def expected_scores(loaded_v1, inputs: dict) -> np.ndarray:
    signature = loaded_v1.signatures["serving_default"]
    return signature(**{k: tf.constant(v) for k, v in inputs.items()})["scores"].numpy()


def test_grpc_request_above_the_cap_is_invalid_argument_then_valid_ones_answer(capped, loaded_v1):
    _, stub = capped
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(predict_request(rows(CAP + 1)), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == TOO_MANY
    with pytest.raises(grpc.RpcError) as raised:  # every signature
        stub.Predict(predict_request({"user_id": ["bob"] * 9, "item_id": ["item_a"] * 9}, signature="score"))
    assert "request has 9 rows" in raised.value.details()
    at_cap = stub.Predict(predict_request(rows(CAP)), timeout=10)  # the cap itself is allowed
    assert tf.make_ndarray(at_cap.outputs["scores"]).shape == (CAP, 2)
    response = stub.Predict(predict_request(), timeout=10)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["scores"]), expected_scores(loaded_v1, request_inputs()), rtol=1e-6
    )


@pytest.mark.parametrize("layout", ["instances", "inputs"])
def test_rest_request_above_the_cap_is_400_then_valid_ones_answer(capped, loaded_v1, layout):
    server, _ = capped
    inputs = rows(CAP + 1)
    if layout == "instances":
        body = {"instances": [{"user_id": u, "history": h} for u, h in zip(*inputs.values(), strict=True)]}
    else:
        body = {"inputs": inputs}
    status, raw = http(server.rest_api_port, "POST", PREDICT, body)
    assert (status, json.loads(raw)) == (400, {"error": TOO_MANY})
    status, raw = http(server.rest_api_port, "POST", PREDICT, {"inputs": request_inputs()})
    assert status == 200
    np.testing.assert_allclose(
        json.loads(raw)["outputs"]["scores"], expected_scores(loaded_v1, request_inputs()), rtol=1e-6
    )


def test_default_cap_is_1024_rows(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        at_cap = stub.Predict(predict_request(rows(1024)), timeout=30)
        assert tf.make_ndarray(at_cap.outputs["scores"]).shape == (1024, 2)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Predict(predict_request(rows(1025)), timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request has 1025 rows; this server accepts at most 1024 per request" in raised.value.details()


def test_max_request_rows_flag():
    assert parse_args(["--model_base_path=/m"]).max_request_rows == 1024
    config = parse_args(["--model_base_path=/m", "--max_request_rows=16"])
    assert resolve(config).max_request_rows == 16
    with pytest.raises(ConfigError, match="--max_request_rows must be at least 1"):
        resolve(ServerConfig(model_base_path="/m", max_request_rows=0))


def varied_rows(count: int) -> dict:
    users = ["alice", "bob", "carol", "dave"]
    items = ["item_a", "item_b", "item_c", "item_d", "item_e", ""]
    return {
        "user_id": [users[i % len(users)] for i in range(count)],
        "history": [[items[(i + k) % len(items)] for k in range(3)] for i in range(count)],
    }


def test_large_requests_run_in_slices_and_answer_as_one_run(model_base, loaded_v1):
    inputs = varied_rows(11)  # slices of 3, 3, 3 and 2 rows
    expected = loaded_v1.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    with running_server(model_base, max_execution_rows=3) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(predict_request(inputs), timeout=10)
            score = stub.Predict(predict_request(rows_for_score(11), signature="score"), timeout=10)
        status, raw = http(server.rest_api_port, "POST", PREDICT, {"inputs": inputs})
    assert tf.make_ndarray(response.outputs["item_ids"]).tolist() == expected["item_ids"].numpy().tolist()
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["scores"]), expected["scores"], rtol=1e-6)
    expected_score = loaded_v1.signatures["score"](
        **{k: tf.constant(v) for k, v in rows_for_score(11).items()}
    )
    np.testing.assert_allclose(tf.make_ndarray(score.outputs["score"]), expected_score["score"], rtol=1e-6)
    assert status == 200
    np.testing.assert_allclose(json.loads(raw)["outputs"]["scores"], expected["scores"], rtol=1e-6)


def rows_for_score(count: int) -> dict:
    inputs = varied_rows(count)
    return {"user_id": inputs["user_id"], "item_id": [h[0] for h in inputs["history"]]}


def test_only_row_wise_signatures_are_sliced(tmp_path):
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def total(self, x):  # one value for the whole request: slicing would change the answer
            return {"sum": tf.reduce_sum(x)}

    module = Module()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.total})
    signature = Servable.load(1, str(tmp_path / "1")).signature("serving_default")
    assert not signature.row_wise
    x = np.arange(10, dtype=np.float32)
    assert signature.run_in_slices({"x": x}, max_rows=3)["sum"] == 45.0


def test_max_execution_rows_flag():
    assert parse_args(["--model_base_path=/m"]).max_execution_rows == 16
    assert (
        resolve(parse_args(["--model_base_path=/m", "--max_execution_rows=1024"])).max_execution_rows == 1024
    )
    with pytest.raises(ConfigError, match="--max_execution_rows must be at least 1"):
        resolve(ServerConfig(model_base_path="/m", max_execution_rows=0))
