"""Start-up after a bad push: the newest loadable version serves, unless --strict_load refuses to start."""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc

import serving
from modelserver.server.main import ModelServer
from tests.modelserver.harness import predict_request, running_server
from tests.modelserver.tiny_model import MODEL_NAME, publish_version, request_inputs

# isort: off
import tensorflow as tf

# isort: on

REPO_ROOT = pathlib.Path(serving.__file__).resolve().parents[1]
State = get_model_status_pb2.ModelVersionStatus


def corrupt_saved_model(base: str, version: int) -> None:
    os.makedirs(os.path.join(base, str(version)))
    pathlib.Path(base, str(version), "saved_model.pb").write_bytes(b"this is not a SavedModel")


def without_variables(base: str, version: int) -> None:
    shutil.rmtree(os.path.join(publish_version(base, version), "variables"))


@pytest.fixture
def bad_push(tmp_path) -> str:
    """Version 1 is good; versions 2 and 3 (the newest) cannot load."""
    base = str(tmp_path / "model")
    os.makedirs(base)
    publish_version(base, 1, direction=-1.0)
    without_variables(base, 2)
    corrupt_saved_model(base, 3)
    return base


def statuses(server) -> dict[int, tuple[int, bool]]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL_NAME
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
    return {s.version: (s.state, s.status.error_code != 0) for s in response.model_version_status}


def test_start_serves_the_newest_loadable_version_and_logs_the_failure(bad_push, caplog):
    expected = tf.saved_model.load(os.path.join(bad_push, "1")).signatures["serving_default"](
        **{k: tf.constant(v) for k, v in request_inputs().items()}
    )
    with caplog.at_level(logging.INFO, logger="modelserver"), running_server(bad_push) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                predict_request(), timeout=10
            )
        assert response.model_spec.version.value == 1
        assert tf.make_ndarray(response.outputs["item_ids"]).tolist() == expected["item_ids"].numpy().tolist()
        assert statuses(server) == {1: (State.AVAILABLE, False), 2: (State.END, True), 3: (State.END, True)}
    failures = [r.getMessage() for r in caplog.records if "failed to load model" in r.getMessage()]
    assert len(failures) == 2 and all("\n" not in line for line in failures)  # versions 3 and 2
    assert f"failed to load model {MODEL_NAME} version 3 from {bad_push}/3: " in failures[0]
    fallback = [r.getMessage() for r in caplog.records if "the newest version that loads" in r.getMessage()]
    assert fallback == [f"modelserver: model {MODEL_NAME} serves version 1, the newest version that loads "
                        "(failed: 3, 2)"]  # fmt: skip


def test_a_fixed_push_replaces_the_fallback_version(bad_push):
    server = ModelServer(MODEL_NAME, bad_push, port=0, poll_seconds=0.2)
    server.start()
    try:
        assert server.registry.serving_versions() == [1]
        publish_version(bad_push, 4)
        deadline = time.monotonic() + 30
        while server.registry.serving_versions() != [4] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.registry.serving_versions() == [4]  # loaded, then version 1 released
    finally:
        server.stop(grace=1)


def test_strict_load_refuses_to_start(bad_push):
    with pytest.raises(RuntimeError) as raised:
        with running_server(bad_push, strict_load=True):
            pass
    message = str(raised.value)
    assert message.startswith(f"Version 3 of model {MODEL_NAME} under base path {bad_push} failed to load")
    assert "--strict_load refuses to start without it" in message


def test_strict_load_entry_point_exits_with_one_clear_line(bad_push):
    command = [sys.executable, "-m", "modelserver", "--port=0", f"--model_name={MODEL_NAME}",
               f"--model_base_path={bad_push}", "--file_system_poll_wait_seconds=0",
               "--strict_load"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "--strict_load refuses to start" in line]
    assert len(errors) == 1 and errors[0].startswith(f"modelserver: Version 3 of model {MODEL_NAME}")
