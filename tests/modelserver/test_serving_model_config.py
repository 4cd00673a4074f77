"""--model_config_file: version policies, labels, reloads (model_server_test.py, server_core_test.cc)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

import grpc
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

import serving
from modelserver.server.config_protos import parse_text
from tests.modelserver.harness import http, predict_request, running_server, write
from tests.modelserver.tiny_model import MODEL_NAME, publish_version, request_inputs

REPO_ROOT = pathlib.Path(serving.__file__).resolve().parents[1]
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def model_config(*models: str) -> str:
    return "model_config_list {\n" + "".join(f"  config {{ {m} }}\n" for m in models) + "}\n"


def recommender(base: str, policy: str = "specific { versions: 1 versions: 2 }", labels=None) -> str:
    labels = labels if labels is not None else {"stable": 1, "canary": 2}
    entries = " ".join(f'version_labels {{ key: "{k}" value: {v} }}' for k, v in labels.items())
    return f'name: "{MODEL_NAME}" base_path: "{base}" model_platform: "tensorflow" ' \
        f"model_version_policy {{ {policy} }} {entries}"  # fmt: skip


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("versions"))
    publish_version(base, 1)
    publish_version(base, 2, direction=-1.0)
    publish_version(base, 3)  # on disk, but not in the specific policy
    return base


@pytest.fixture
def configured(two_versions, tmp_path):
    path = write(tmp_path / "models.config", model_config(recommender(two_versions)))
    options = {"model_config_poll_seconds": 0.2, "allow_unavailable_labels": True}  # labels at start need it
    with running_server(model_config_file=path, **options) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield server, path, channel


def item_ids(stub, **spec) -> list:
    response = stub.Predict(predict_request(**spec), timeout=10)
    return list(response.outputs["item_ids"].string_val), response.model_spec.version.value


def test_specific_policy_serves_two_versions_side_by_side(configured):
    server, _, channel = configured
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    v1, v2 = item_ids(stub, version=1), item_ids(stub, version=2)
    assert v1[1] == 1 and v2[1] == 2 and v1[0] != v2[0]
    assert item_ids(stub)[1] == 2  # latest of the aspired versions
    assert {s.version: s.state for s in server.registry.statuses()} == {1: AVAILABLE, 2: AVAILABLE}
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(predict_request(version=3), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_labels_route_grpc_and_rest_requests(configured):
    server, _, channel = configured
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    assert item_ids(stub, label="stable") == item_ids(stub, version=1)
    assert item_ids(stub, label="canary") == item_ids(stub, version=2)
    body = {"inputs": request_inputs()}
    for label, version in [("stable", 1), ("canary", 2)]:
        by_label = http(server.rest_api_port, "POST", f"/v1/models/{MODEL_NAME}/labels/{label}:predict", body)
        by_version = http(
            server.rest_api_port, "POST", f"/v1/models/{MODEL_NAME}/versions/{version}:predict", body
        )
        assert by_label == by_version and by_label[0] == 200
    status, raw = http(server.rest_api_port, "GET", f"/v1/models/{MODEL_NAME}/labels/stable")
    assert status == 200 and b'"version": "1"' in raw and b'"version": "2"' not in raw


def test_unknown_label_is_invalid_argument(configured):
    server, _, channel = configured
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(predict_request(label="nightly"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Unrecognized servable version label: nightly" in raised.value.details()
    path = f"/v1/models/{MODEL_NAME}/labels/nightly:predict"
    status, raw = http(server.rest_api_port, "POST", path, {"inputs": request_inputs()})
    assert status == 400 and b"Unrecognized servable version label: nightly" in raw


def test_model_config_reload(configured, two_versions):
    server, path, channel = configured
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def rewrite(text: str, serving: list[int]) -> None:
        write(pathlib.Path(path), text)
        deadline = time.monotonic() + 15
        while server.registry.serving_versions() != serving and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.registry.serving_versions() == serving

    # Moving a label safely (serving_config.md): first serve both versions, then move it, then drop the old.
    rewrite(
        model_config(recommender(two_versions, "specific { versions: 1 versions: 3 }", {"stable": 1})), [1, 3]
    )
    rewrite(
        model_config(recommender(two_versions, "specific { versions: 1 versions: 3 }", {"stable": 3})), [1, 3]
    )
    time.sleep(0.5)
    assert item_ids(stub, label="stable")[1] == 3
    rewrite(model_config(recommender(two_versions, "latest { num_versions: 1 }", {"stable": 3})), [3])
    write(pathlib.Path(path), "model_config_list { config { name: ")  # a broken edit is not applied
    time.sleep(0.5)
    assert item_ids(stub)[1] == 3 and item_ids(stub, label="stable")[1] == 3


def test_reload_config_request_replaces_the_config(configured, two_versions):
    server, _, channel = configured
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def reload(policy: str, labels: dict):
        config = parse_text(model_config(recommender(two_versions, policy, labels)), "ModelServerConfig")
        request = model_management_pb2.ReloadConfigRequest(config=config)
        return models.HandleReloadConfigRequest(request, timeout=30)

    assert reload("specific { versions: 1 }", {"stable": 1}).status.error_code == 0
    assert server.registry.serving_versions() == [1] and item_ids(stub)[1] == 1
    with pytest.raises(grpc.RpcError) as raised:  # AssignExistingLabelToUnavailableVersionDisallowed
        reload("specific { versions: 1 }", {"stable": 2})
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not currently available" in raised.value.details()
    assert server.registry.labels == {"stable": 1}  # a rejected config changes nothing
    with pytest.raises(grpc.RpcError) as raised:
        models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(), timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Only ModelConfigList is currently supported" in raised.value.details()


def test_good_model_config_serves_two_models(two_versions, tmp_path):
    other = f'name: "other" base_path: "{two_versions}"'  # default policy: latest 1
    path = write(tmp_path / "models.config", model_config(recommender(two_versions), other))
    with running_server(model_config_file=path, rest=False, allow_unavailable_labels=True) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert item_ids(stub, name="other")[1] == 3
            assert item_ids(stub, label="stable")[1] == 1
        assert sorted(server.manager.models) == ["other", MODEL_NAME]


@pytest.mark.parametrize(
    "models, message",
    [
        (['name: "m" base_path: "relative/path"'], "to have an absolute path or URI"),  # RelativePathFails
        (['name: "m" base_path: "/a"', 'name: "m" base_path: "/b"'], "multiple times"),  # DuplicateModelName
        (['name: "m" base_path: "/a" model_platform: "pytorch"'], "unsupported platform"),  # UnknownPlatform
    ],
)
def test_invalid_model_config_fails_start(tmp_path, models, message):
    path = write(tmp_path / "models.config", model_config(*models))
    with pytest.raises(RuntimeError, match=message):
        with running_server(model_config_file=path, rest=False):
            pass


def test_labels_at_start_need_allow_version_labels_for_unavailable_models(two_versions, tmp_path):
    path = write(tmp_path / "models.config", model_config(recommender(two_versions, labels={"stable": 1})))
    with pytest.raises(RuntimeError, match="not currently available for inference"):  # as TF Serving does
        with running_server(model_config_file=path, rest=False):
            pass
    with running_server(model_config_file=path, rest=False, allow_unavailable_labels=True) as server:
        assert server.registry.labels == {"stable": 1}


def test_bad_model_config(tmp_path):
    path = write(tmp_path / "bad.config", "model_config_list { config { name: 'x' base_path: '/a' oops } }")
    done = subprocess.run(
        [sys.executable, "-m", "modelserver", "--port=0", f"--model_config_file={path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in done.stderr
