"""Fixtures for the serving tests: the tiny model's version 1 and one server on free ports for the session."""

from __future__ import annotations

import os

import pytest

from serving.client import GrpcClient, RestClient
from serving.server.main import ModelServer
from tests.serving.tiny_model import MODEL_NAME, export_model, pick_unused_port

# isort: off
import tensorflow as tf  # after `serving`, which selects Keras 2 before TensorFlow loads

# isort: on


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
