"""HandleReloadConfigRequest is only for servers run from a config file, and only for its directories."""

from __future__ import annotations

import os

import grpc
import pytest
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

from modelserver.server.config_protos import ConfigError, parse_text
from modelserver.server.options import ServerConfig, resolve
from tests.modelserver.harness import running_server, write
from tests.modelserver.tiny_model import MODEL_NAME, publish_version


def config_text(*models: tuple[str, str]) -> str:
    entries = "".join(f'config {{ name: "{name}" base_path: "{path}" }} ' for name, path in models)
    return f"model_config_list {{ {entries}}}"


def reload_request(*models: tuple[str, str]) -> model_management_pb2.ReloadConfigRequest:
    config = parse_text(config_text(*models), "ModelServerConfig")
    return model_management_pb2.ReloadConfigRequest(config=config)


def reload(server, request) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        try:
            model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=30)
        except grpc.RpcError as error:
            return error.code(), error.details()
    return grpc.StatusCode.OK, ""


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, str]:
    """``models/recommender`` (named by the config file), ``models/other`` beside it, ``elsewhere``."""
    root = tmp_path_factory.mktemp("trees")
    paths = {name: str(root / name) for name in ("models/recommender", "models/other", "elsewhere")}
    for path in paths.values():
        os.makedirs(path)
        publish_version(path, 1)
    return paths


@pytest.fixture
def configured(trees, tmp_path):
    path = write(tmp_path / "models.config", config_text((MODEL_NAME, trees["models/recommender"])))
    with running_server(model_config_file=path, rest=False) as server:
        yield server


def test_refused_without_a_model_config_file(server, trees):
    code, details = reload(server, reload_request(("other", trees["elsewhere"])))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "not started with --model_config_file" in details
    assert list(server.manager.models) == [MODEL_NAME]  # nothing loaded, nothing unloaded


@pytest.mark.parametrize("outside", ["elsewhere", "models/other", "models/recommender/../../elsewhere"])
def test_refused_for_a_base_path_outside_the_config_files_directories(configured, trees, outside):
    path = trees.get(outside) or os.path.join(trees["models/recommender"], "..", "..", "elsewhere")
    code, details = reload(configured, reload_request((MODEL_NAME, trees["models/recommender"]), ("x", path)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert f"base_path {path} of model x is outside the directories" in details
    assert "--allowed_reload_base_paths" in details
    assert list(configured.manager.models) == [MODEL_NAME]


def test_accepted_under_the_config_files_directories(configured, trees):
    version_dir = os.path.join(trees["models/recommender"], "1")
    request = reload_request((MODEL_NAME, trees["models/recommender"]), ("pinned", version_dir + "/.."))
    assert reload(configured, request) == (grpc.StatusCode.OK, "")
    assert sorted(configured.manager.models) == ["pinned", MODEL_NAME]
    assert configured.manager.models["pinned"].serving_versions() == [1]


def test_allowed_reload_base_paths_widens_the_rule(trees, tmp_path):
    path = write(tmp_path / "models.config", config_text((MODEL_NAME, trees["models/recommender"])))
    roots = (os.path.dirname(trees["models/other"]),)
    with running_server(model_config_file=path, rest=False, reload_roots=roots) as server:
        assert reload(server, reload_request(("other", trees["models/other"]))) == (grpc.StatusCode.OK, "")
        assert list(server.manager.models) == ["other"]  # the new config replaced the old one
        code, _ = reload(server, reload_request(("x", trees["elsewhere"])))
        assert code == grpc.StatusCode.PERMISSION_DENIED


def test_allowed_reload_base_paths_flag(tmp_path):
    config = ServerConfig(model_config_file="/m.config", allowed_reload_base_paths="/a,/b/c")
    assert resolve(config).reload_roots == ("/a", "/b/c")
    with pytest.raises(ConfigError, match="requires --model_config_file"):
        resolve(ServerConfig(model_base_path="/m", allowed_reload_base_paths="/a"))
