"""Dynamic batching as TF Serving does it (batching_session_test.cc, shared_batch_scheduler_test.cc)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from modelserver.server.batching import BatchingOptions
from modelserver.server.config_protos import ConfigError, parse_text
from modelserver.server.options import ServerConfig, resolve
from tests.modelserver.harness import (
    concurrently,
    predict_request,
    rpc_code,
    running_server,
    slow_model,
    write,
)

# isort: off
import tensorflow as tf

# isort: on

USERS = ["alice", "bob", "carol", "dave", "erin", "alice", "bob", "carol"]
HISTORIES = [["item_b", "", ""], ["item_a", "item_c", ""], ["", "", ""], ["item_e", "item_d", "item_a"]]


def inputs_for(i: int) -> dict:
    """Request i: 1 or 2 rows, all different, so a wrong split would show."""
    rows = 1 + i % 2
    return {
        "user_id": [USERS[(i + r) % len(USERS)] for r in range(rows)],
        "history": [HISTORIES[(i + r) % len(HISTORIES)] for r in range(rows)],
    }


def batching(**values) -> BatchingOptions:
    text = " ".join(f"{k} {{ value: {v} }}" for k, v in values.items() if k != "allowed_batch_sizes")
    text += "".join(f" allowed_batch_sizes: {s}" for s in values.get("allowed_batch_sizes", ()))
    return BatchingOptions.from_proto(parse_text(text, "BatchingParameters"))


def test_batching_parameters_file_is_tf_servings_text_proto(tmp_path):
    path = write(
        tmp_path / "batching.txt",
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n",
    )  # servables/tensorflow/testdata/batching_config.txt
    options = resolve(ServerConfig(model_base_path="/m", enable_batching=True, batching_parameters_file=path))
    assert options.batching == BatchingOptions(128, 0, 1000000, 8)
    assert resolve(ServerConfig(model_base_path="/m", enable_batching=True)).batching == BatchingOptions()
    write(tmp_path / "batching.txt", "max_batch_size: 128")  # not a wrapper message: TF Serving refuses it
    with pytest.raises(ConfigError, match="Error parsing text-format tensorflow.serving.BatchingParameters"):
        resolve(ServerConfig(model_base_path="/m", enable_batching=True, batching_parameters_file=path))
    with pytest.raises(ConfigError, match="requires --enable_batching"):
        resolve(ServerConfig(model_base_path="/m", batching_parameters_file=path))
    with pytest.raises(ValueError, match="allowed_batch_sizes"):
        batching(max_batch_size=8, allowed_batch_sizes=(4, 6))


def test_concurrent_requests_are_batched_and_results_equal_unbatched(model_base, loaded_v1):
    options = batching(
        max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1, allowed_batch_sizes=(4, 8)
    )
    with running_server(model_base, batching=options) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            responses = concurrently(lambda i: stub.Predict(predict_request(inputs_for(i)), timeout=10), 8)
        runs = server.metrics.batch_runs.value()
        sizes = server.metrics.batch_size
    assert runs >= 1
    assert runs < 8  # 8 requests, 12 rows: fewer model calls than requests
    assert sizes.count("recommender") == runs
    for i, response in enumerate(responses):
        expected = loaded_v1.signatures["serving_default"](
            **{k: tf.constant(v) for k, v in inputs_for(i).items()}
        )
        scores = tf.make_ndarray(response.outputs["scores"])
        np.testing.assert_allclose(scores, expected["scores"].numpy(), rtol=1e-6)
        assert tf.make_ndarray(response.outputs["item_ids"]).tolist() == expected["item_ids"].numpy().tolist()


def test_unbatchable_requests_get_tf_servings_errors(model_base):
    with running_server(model_base, rest=False, batching=batching(max_batch_size=2)) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            unequal = {"user_id": ["alice", "bob"], "history": [["item_a", "", ""]]}
            too_big = {"user_id": ["alice"] * 3, "history": [["", "", ""]] * 3}
            for inputs, text in [
                (unequal, "input tensors must have equal 0th-dimension size"),
                (too_big, "Task size 3 is larger than maximum input batch size 2"),
            ]:
                with pytest.raises(grpc.RpcError) as raised:
                    stub.Predict(predict_request(inputs), timeout=10)
                assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert text in raised.value.details()
            assert stub.Predict(predict_request(), timeout=10).outputs["scores"].tensor_shape.dim[0].size == 2


def test_output_without_batch_dimension_fails_the_batch(tmp_path):
    class Totals(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {"total": tf.reduce_sum(x, keepdims=True)}  # [1], not [batch]

    module = Totals()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.serve})
    with running_server(str(tmp_path), rest=False, name="totals", batching=batching()) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                stub.Predict(predict_request({"x": [1.0, 2.0]}, name="totals"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Batched output tensor's 0th dimension does not equal" in raised.value.details()


def test_full_batch_queue_turns_requests_away_and_none_hang(model_base):
    options = batching(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    with running_server(model_base, rest=False, batching=options) as server, slow_model(server, 0.3):
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            one_row = {"user_id": ["alice"], "history": [["item_a", "", ""]]}
            codes = concurrently(lambda i: rpc_code(stub.Predict, predict_request(one_row), 10), 6)
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}  # shed, not queued forever
    assert codes.count(grpc.StatusCode.OK) >= 1
