"""The Prometheus endpoint (tensorflow_model_server_test.py testPrometheusEndpoint, prometheus_exporter)."""

from __future__ import annotations

import re

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from modelserver.server.config_protos import ConfigError
from modelserver.server.metrics import CONTENT_TYPE, ServingMetrics
from modelserver.server.options import ServerConfig, resolve
from tests.modelserver.harness import http, predict_request, rpc_code, running_server, write
from tests.modelserver.tiny_model import MODEL_NAME, request_inputs

PATH = "/monitoring/prometheus/metrics"


def sample(body: str, name: str, **labels) -> float:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    for line in body.splitlines():
        match = re.fullmatch(r"(\S+?)(\{.*\})? (\S+)", line)
        if match and match[1] == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match[3])
    raise AssertionError(f"no sample {name} {labels}")


def test_monitoring_config_is_tf_servings_text_proto(tmp_path):
    def path_for(text: str, rest_api_port: int = 8501) -> str | None:
        path = write(tmp_path / "monitoring.txt", text)
        config = ServerConfig(model_base_path="/m", rest_api_port=rest_api_port, monitoring_config_file=path)
        return resolve(config).monitoring_path

    assert path_for('prometheus_config { enable: true, path: "/metrics" }') == "/metrics"
    assert path_for("prometheus_config { enable: true }") == PATH
    assert path_for("prometheus_config { enable: false }") is None
    with pytest.raises(ConfigError, match="requires --rest_api_port"):
        path_for("prometheus_config { enable: true }", rest_api_port=0)
    with pytest.raises(ConfigError, match="Error parsing text-format tensorflow.serving.MonitoringConfig"):
        path_for("prometheus_config { enabled: true }")


def test_prometheus_endpoint(model_base):
    with running_server(model_base, monitoring_path=PATH) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert rpc_code(stub.Predict, predict_request()) == grpc.StatusCode.OK
            wrong_dtype = predict_request({"user_id": [1.0], "history": [["a", "b", "c"]]})
            assert rpc_code(stub.Predict, wrong_dtype) == grpc.StatusCode.INVALID_ARGUMENT
            assert rpc_code(stub.Predict, predict_request(name="no_such_model")) == grpc.StatusCode.NOT_FOUND
        assert (
            http(
                server.rest_api_port, "POST", f"/v1/models/{MODEL_NAME}:predict", {"inputs": request_inputs()}
            )[0]
            == 200
        )
        status, raw = http(server.rest_api_port, "GET", PATH)
    body = raw.decode()
    assert status == 200 and "# TYPE" in body
    assert "# TYPE :tensorflow:serving:request_count counter" in body
    assert "# TYPE :tensorflow:serving:request_latency histogram" in body
    assert sample(body, ":tensorflow:serving:request_count", model_name=MODEL_NAME, status="OK") == 2
    assert (
        sample(body, ":tensorflow:serving:request_count", model_name=MODEL_NAME, status="INVALID_ARGUMENT")
        == 1
    )
    assert (
        sample(body, ":tensorflow:serving:request_count", model_name="", status="NOT_FOUND") == 1
    )  # unknown names are not labels
    count = ":tensorflow:serving:request_latency_count"
    assert sample(body, count, model_name=MODEL_NAME, API="Predict", entrypoint="GRPC") == 1
    assert sample(body, count, model_name=MODEL_NAME, API="Predict", entrypoint="REST") == 1
    assert sample(body, ":tensorflow:serving:runtime_latency_count", model_name=MODEL_NAME) == 2
    assert sample(body, ":tensorflow:serving:request_latency_bucket", entrypoint="GRPC", le="+Inf") == 1


def test_metrics_endpoint_is_absent_without_monitoring_config(server):
    assert http(server.rest_api_port, "GET", PATH)[0] == 404


def test_exposition_escapes_label_values_and_keeps_buckets_cumulative():
    metrics = ServingMetrics()
    metrics.request_latency.observe(15.0, 'a"b\\c', "Predict", "GRPC")
    metrics.request_latency.observe(1e9, 'a"b\\c', "Predict", "GRPC")
    text = metrics.exposition()
    assert 'model_name="a\\"b\\\\c"' in text
    buckets = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if "request_latency_bucket" in line
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 2
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
