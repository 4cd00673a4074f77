"""Fixtures for the modelserver tests: the tiny model's version 1, one server on free ports per session."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from modelserver.client import GrpcClient, RestClient
from modelserver.server.main import ModelServer
from tests.modelserver.tiny_model import MODEL_NAME, export_model, pick_unused_port


@pytest.fixture(scope="session")
def model_base(tmp_path_factory) -> str:
    base = str(tmp_path_factory.mktemp("model"))
    export_model(os.path.join(base, "1"))
    return base


@pytest.fixture(scope="session")
def loaded_v1(model_base):
    return tf.saved_model.load(os.path.join(model_base, "1"))


@pytest.fixture(scope="session")
def server(model_base):
    server = ModelServer(MODEL_NAME, model_base, port=0, rest_api_port=pick_unused_port(), poll_seconds=0)
    server.start()
    yield server
    server.stop(grace=1)


@pytest.fixture(scope="session")
def grpc_client(server):
    client = GrpcClient(f"127.0.0.1:{server.port}", MODEL_NAME, timeout=10)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rest_client(server):
    client = RestClient(f"127.0.0.1:{server.rest_api_port}", MODEL_NAME, timeout=10)
    yield client
    client.close()
