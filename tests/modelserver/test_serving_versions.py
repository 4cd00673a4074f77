"""Version handling: hot swap under load, a broken version, ignored directories, failing start."""

from __future__ import annotations

import os
import shutil
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from modelserver import tensors
from modelserver.client import GrpcClient, RestClient
from modelserver.server.main import ModelServer
from modelserver.status import ServingError
from tests.modelserver.tiny_model import MODEL_NAME, pick_unused_port, publish_version, request_inputs


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def status_of(client, version: int) -> dict | None:
    return next((s for s in client.status() if s["version"] == version), None)


class LoadGenerator(threading.Thread):
    """Sends Predict continuously and records the version that answered each call, or the error."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.versions: list[int] = []
        self.errors: list[str] = []
        self._done = threading.Event()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._request = predict_pb2.PredictRequest()
        self._request.model_spec.name = MODEL_NAME
        for alias, value in request_inputs().items():
            self._request.inputs[alias].CopyFrom(tensors.to_proto(tensors.as_array(value)))

    def run(self) -> None:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        while not self._done.is_set():
            try:
                self.versions.append(stub.Predict(self._request, timeout=10).model_spec.version.value)
            except grpc.RpcError as error:
                self.errors.append(f"{error.code()}: {error.details()}")
            time.sleep(0.02)

    def finish(self) -> None:
        self._done.set()
        self.join()
        self._channel.close()


@pytest.fixture
def swap_server(tmp_path):
    base = str(tmp_path / "model")
    os.makedirs(base)
    publish_version(base, 1)
    server = ModelServer(MODEL_NAME, base, port=0, rest_api_port=pick_unused_port(), poll_seconds=0.2)
    server.start()
    yield server, base
    server.stop(grace=1)


def test_hot_swap_then_broken_version_keeps_serving(swap_server):
    server, base = swap_server
    client = GrpcClient(f"127.0.0.1:{server.port}", MODEL_NAME)
    rest = RestClient(f"127.0.0.1:{server.rest_api_port}", MODEL_NAME)
    before = client.predict(request_inputs())
    os.makedirs(os.path.join(base, "9"))  # no saved_model.pb: not a version
    os.makedirs(os.path.join(base, "latest"))  # not an integer: not a version

    load = LoadGenerator(server.port)
    load.start()
    wait_for(lambda: load.versions)
    publish_version(base, 2, direction=-1.0)
    wait_for(lambda: (status_of(client, 2) or {}).get("state") == "AVAILABLE")
    time.sleep(0.3)  # let the load generator see the new version
    load.finish()
    assert load.errors == []
    assert load.versions[0] == 1 and load.versions[-1] == 2
    assert load.versions == sorted(load.versions)  # switched once, never back

    after = client.predict(request_inputs())
    assert after["item_ids"].tolist() != before["item_ids"].tolist()
    assert rest.predict(request_inputs())["item_ids"].tolist() == after["item_ids"].tolist()
    assert status_of(client, 1) == {"version": 1, "state": "END", "error_code": "OK", "error_message": ""}
    assert status_of(client, 9) is None

    staging = os.path.join(base, ".staging-3")
    os.makedirs(staging)
    with open(os.path.join(staging, "saved_model.pb"), "wb") as f:
        f.write(b"this is not a SavedModel")
    os.rename(staging, os.path.join(base, "3"))
    wait_for(lambda: (status_of(client, 3) or {}).get("state") == "END")
    broken = status_of(client, 3)
    assert broken["error_code"] != "OK" and "saved_model.pb" in broken["error_message"]
    assert rest.status(version=3) == [broken]
    assert status_of(client, 2)["state"] == "AVAILABLE"
    assert client.predict(request_inputs())["item_ids"].tolist() == after["item_ids"].tolist()

    shutil.rmtree(os.path.join(base, "3"))  # a fixed push of the same version is retried
    publish_version(base, 3)
    wait_for(lambda: (status_of(client, 3) or {}).get("state") == "AVAILABLE")
    assert client.predict(request_inputs())["item_ids"].tolist() == before["item_ids"].tolist()
    client.close()


def test_start_fails_without_a_loadable_version(tmp_path):
    with pytest.raises(RuntimeError, match="No loadable version"):
        ModelServer(MODEL_NAME, str(tmp_path), port=0).start()
    os.makedirs(tmp_path / "1")
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="saved_model.pb"):
        ModelServer(MODEL_NAME, str(tmp_path), port=0).start()


def test_stop_lets_in_flight_requests_finish(swap_server):
    server, _ = swap_server
    signature = server.registry.servable().signature("serving_default")
    run = signature.run
    signature.run = lambda *args, **kwargs: (time.sleep(0.5), run(*args, **kwargs))[1]  # a slow model
    grpc_client = GrpcClient(f"127.0.0.1:{server.port}", MODEL_NAME, retries=0)
    rest_client = RestClient(f"127.0.0.1:{server.rest_api_port}", MODEL_NAME, retries=0)
    grpc_client.predict(request_inputs())
    rest_client.predict(request_inputs())  # long-lived clients: connected, metadata cached
    results = {}
    calls = [
        threading.Thread(target=lambda: results.update(grpc=grpc_client.predict(request_inputs()))),
        threading.Thread(target=lambda: results.update(rest=rest_client.predict(request_inputs()))),
    ]
    for call in calls:
        call.start()
    time.sleep(0.2)  # both requests are inside the model now
    server.stop(grace=5)
    for call in calls:
        call.join()
    assert results["grpc"]["scores"].shape == results["rest"]["scores"].shape == (2, 2)
    with pytest.raises(ServingError) as raised:
        grpc_client.predict(request_inputs())
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    grpc_client.close()
