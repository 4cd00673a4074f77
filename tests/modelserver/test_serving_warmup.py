"""Warm-up replay at load time (saved_model_warmup_test.cc, saved_model_warmup_util.cc)."""

from __future__ import annotations

import os
import shutil

import grpc
from tensorflow_serving.apis import get_model_status_pb2, prediction_log_pb2

from modelserver.saved_model import WARMUP_FILE
from modelserver.server.main import ModelServer, ServerOptions
from tests.modelserver.harness import predict_request, running_server
from tests.modelserver.tiny_model import MODEL_NAME

# isort: off
import tensorflow as tf

# isort: on

END = get_model_status_pb2.ModelVersionStatus.END


def predict_log(**spec) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(predict_request(**spec))
    return log


def version_with_warmup(model_base: str, tmp_path, records: list) -> str:
    """A copy of the tiny model's version 1 whose warm-up file holds ``records`` (protos or bytes)."""
    base = tmp_path / "model"
    shutil.copytree(os.path.join(model_base, "1"), base / "1")
    os.makedirs(base / "1" / "assets.extra")
    with tf.io.TFRecordWriter(str(base / "1" / WARMUP_FILE)) as writer:
        for record in records:
            writer.write(record if isinstance(record, bytes) else record.SerializeToString())
    return str(base)


def load_status(base: str, **options):
    """Starts a server on ``base`` (the load may fail); returns the version's status."""
    server = ModelServer(MODEL_NAME, base, port=0, poll_seconds=0, options=ServerOptions(**options))
    try:
        server.start()
    except RuntimeError:
        pass
    (status,) = server.registry.statuses()
    server.stop(grace=0)
    return status


def test_mixed_warmup_data_is_replayed_before_the_version_serves(model_base, tmp_path):
    records = [
        predict_log(),
        predict_log(signature="serving_default"),
        predict_log(name="anything", version=9),
    ]
    records.append(predict_log(inputs={"user_id": ["bob"], "item_id": ["item_b"]}, signature="score"))
    base = version_with_warmup(model_base, tmp_path, records)
    with running_server(base, rest=False) as server:
        runs = server.metrics.runtime_latency.count(MODEL_NAME, "Predict", "TF2")
        assert runs == len(records)  # replayed while loading, before any request
        assert server.metrics.warmup_latency.count(os.path.join(base, "1"), "OK") == 1
        (status,) = server.registry.statuses()
        assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


def test_too_many_warmup_records_fail_the_load(model_base, tmp_path):
    base = version_with_warmup(model_base, tmp_path, [predict_log().SerializeToString()] * 1001)
    status = load_status(base)
    assert status.state == END and status.error_code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Number of warmup records exceeds the maximum (1000)" in status.error_message


def test_unparseable_warmup_record_fails_the_load(model_base, tmp_path):
    status = load_status(version_with_warmup(model_base, tmp_path, [b"\xff\xff not a PredictionLog"]))
    assert status.state == END and status.error_code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Failed to parse warmup record" in status.error_message


def test_unsupported_log_type_session_run(model_base, tmp_path):
    log = prediction_log_pb2.PredictionLog()
    log.session_run_log.SetInParent()
    status = load_status(version_with_warmup(model_base, tmp_path, [log]))
    assert status.state == END and status.error_code == grpc.StatusCode.UNIMPLEMENTED
    assert "Unsupported log_type for warmup: session_run_log" in status.error_message


def test_failing_warmup_request_fails_the_load_unless_warmup_is_off(model_base, tmp_path):
    base = version_with_warmup(model_base, tmp_path, [predict_log(inputs={"user_id": ["alice"]})])
    status = load_status(base)
    assert status.state == END and status.error_code == grpc.StatusCode.INVALID_ARGUMENT
    assert "input size does not match signature" in status.error_message
    assert load_status(base, warmup=False).state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
