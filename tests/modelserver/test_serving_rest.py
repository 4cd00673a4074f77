"""The REST front against TF Serving's contract (api_rest.md, http_rest_api_handler_test.cc)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.modelserver.tiny_model import MODEL_NAME, request_inputs

MODEL = f"/v1/models/{MODEL_NAME}"


def http(server, method: str, path: str, body: bytes | dict | None = None) -> tuple[int, dict]:
    """Sends one request; returns (status, parsed JSON) after checking the Content-Type."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.rest_api_port}{path}", data=data, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(raw)


def as_str(array: np.ndarray) -> list:
    return np.vectorize(lambda b: b.decode())(array).tolist()


def test_status_json_is_exactly_tf_servings(server):
    expected = {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert http(server, "GET", MODEL) == (200, expected)
    assert http(server, "GET", f"{MODEL}/versions/1") == (200, expected)


def test_metadata_json_uses_proto_field_names(server):
    status, body = http(server, "GET", f"{MODEL}/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": MODEL_NAME, "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "score"} <= set(signatures)
    history = signatures["serving_default"]["inputs"]["history"]
    assert history["dtype"] == "DT_STRING"
    assert history["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}],
        "unknown_rank": False,
    }
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"


def test_row_predict_equals_grpc(server, grpc_client):
    inputs = request_inputs()
    instances = [
        {"user_id": u, "history": h} for u, h in zip(inputs["user_id"], inputs["history"], strict=True)
    ]
    status, body = http(server, "POST", f"{MODEL}:predict", {"instances": instances})
    expected = grpc_client.predict(inputs)
    assert status == 200
    assert [row["item_ids"] for row in body["predictions"]] == as_str(expected["item_ids"])
    np.testing.assert_allclose([row["scores"] for row in body["predictions"]], expected["scores"], rtol=1e-6)


def test_columnar_predict_equals_grpc(server, grpc_client):
    status, body = http(server, "POST", f"{MODEL}/versions/1:predict", {"inputs": request_inputs()})
    expected = grpc_client.predict(request_inputs())
    assert status == 200
    assert body["outputs"]["item_ids"] == as_str(expected["item_ids"])
    np.testing.assert_allclose(body["outputs"]["scores"], expected["scores"], rtol=1e-6)


def test_single_output_drops_its_name_in_both_formats(server, grpc_client):
    inputs = {"user_id": ["bob", "carol"], "item_id": ["item_b", "item_x"]}
    expected = grpc_client.predict(inputs, signature_name="score")["score"]
    rows = [{"user_id": u, "item_id": i} for u, i in zip(inputs["user_id"], inputs["item_id"], strict=True)]
    _, row_body = http(server, "POST", f"{MODEL}:predict", {"signature_name": "score", "instances": rows})
    _, column_body = http(server, "POST", f"{MODEL}:predict", {"signature_name": "score", "inputs": inputs})
    np.testing.assert_allclose(row_body["predictions"], expected, rtol=1e-6)
    np.testing.assert_allclose(column_body["outputs"], expected, rtol=1e-6)


def test_b64_strings_equal_utf8_strings(server):
    plain = {"user_id": ["alice"], "history": [["item_b", "", ""]]}
    encoded = {"user_id": [{"b64": base64.b64encode(b"alice").decode()}], "history": plain["history"]}
    assert http(server, "POST", f"{MODEL}:predict", {"inputs": encoded}) == http(
        server, "POST", f"{MODEL}:predict", {"inputs": plain}
    )


def test_rest_client_equals_grpc_client(rest_client, grpc_client):
    for signature, inputs in [
        ("serving_default", request_inputs()),
        ("score", {"user_id": ["bob"], "item_id": ["item_c"]}),
    ]:
        over_rest = rest_client.predict(inputs, signature_name=signature)
        over_grpc = grpc_client.predict(inputs, signature_name=signature)
        assert set(over_rest) == set(over_grpc)
        for alias, array in over_grpc.items():
            assert over_rest[alias].dtype == array.dtype
            np.testing.assert_array_equal(over_rest[alias], array)
    assert rest_client.metadata() == grpc_client.metadata()
    assert rest_client.status() == grpc_client.status()


def _rows(**overrides):
    row = {"user_id": "alice", "history": ["item_a", "item_b", ""]}
    return {"instances": [{**row, **overrides}]}


REST_ERRORS = {
    "unknown_model_status": (
        "GET",
        "/v1/models/nope",
        None,
        404,
        "Could not find any versions of model nope",
    ),
    "unknown_model_predict": ("POST", "/v1/models/nope:predict", _rows(), 404, "Servable not found"),
    "unknown_version": ("POST", f"{MODEL}/versions/7:predict", _rows(), 404, f"Specific({MODEL_NAME}, 7)"),
    "unknown_version_status": ("GET", f"{MODEL}/versions/7", None, 404, "Could not find version 7"),
    "unknown_label": (
        "POST",
        f"{MODEL}/labels/stable:predict",
        _rows(),
        400,
        "Unrecognized servable version",
    ),
    "unknown_signature": (
        "POST",
        f"{MODEL}:predict",
        {"signature_name": "nope", **_rows()},
        400,
        'Serving signature name: "nope" not found',
    ),
    "empty_body": ("POST", f"{MODEL}:predict", b"", 400, "JSON Parse error: The document is empty"),
    "bad_json": ("POST", f"{MODEL}:predict", b"{instances:", 400, "JSON Parse error"),
    "both_formats": ("POST", f"{MODEL}:predict", {"inputs": {}, "instances": []}, 400, "only one of"),
    "no_format": ("POST", f"{MODEL}:predict", {}, 400, "Missing 'inputs' or 'instances' key"),
    "empty_instances": ("POST", f"{MODEL}:predict", {"instances": []}, 400, "No values in 'instances'"),
    "non_string_signature": (
        "POST",
        f"{MODEL}:predict",
        {"signature_name": 3, **_rows()},
        400,
        "signature_name",
    ),
    "row_missing_input": ("POST", f"{MODEL}:predict", {"instances": [{"user_id": "a"}]}, 400, "Missing"),
    "row_extra_input": ("POST", f"{MODEL}:predict", _rows(extra="x"), 400, "keys must be equal to"),
    "columnar_missing_input": (
        "POST",
        f"{MODEL}:predict",
        {"inputs": {"user_id": ["a"]}},
        400,
        "Missing named input: history",
    ),
    "columnar_extra_input": (
        "POST",
        f"{MODEL}:predict",
        {"inputs": {**request_inputs(), "extra": [1]}},
        400,
        "does not have named input: extra",
    ),
    "wrong_type": ("POST", f"{MODEL}:predict", _rows(user_id=1.5), 400, "is not of expected type: string"),
    "wrong_shape": ("POST", f"{MODEL}:predict", _rows(history=["a", "b"]), 400, ""),
    "ragged": ("POST", f"{MODEL}:predict", {"inputs": {"user_id": ["a"], "history": [["a"], []]}}, 400, ""),
    "bad_b64": ("POST", f"{MODEL}:predict", _rows(user_id={"b64": "!!"}), 400, "base64"),
    "get_predict": ("GET", f"{MODEL}:predict", None, 400, "Malformed request"),
    "post_metadata": ("POST", f"{MODEL}/metadata", b"{}", 400, "Malformed request"),
    "bad_version_path": ("POST", f"{MODEL}/version/1:predict", _rows(), 400, "Malformed request"),
    "no_model_name": ("GET", "/v1/models", None, 400, "Missing model name"),
    "classify": ("POST", f"{MODEL}:classify", {"examples": []}, 501, "not implemented"),
    "not_v1": ("GET", "/healthz", None, 404, ""),
}


@pytest.mark.parametrize("case", list(REST_ERRORS))
def test_rest_errors_are_json_with_tf_serving_statuses(server, case):
    method, path, body, expected_status, text = REST_ERRORS[case]
    status, answer = http(server, method, path, body)
    assert status == expected_status, answer
    assert set(answer) == {"error"} and text in answer["error"]
