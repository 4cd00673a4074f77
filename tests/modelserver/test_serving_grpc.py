"""The gRPC front against TF Serving's contract (predict_impl_test.cc, tensorflow_model_server_test.py)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from modelserver import tensors
from modelserver.client import GrpcClient
from modelserver.status import ServingError
from tests.modelserver.tiny_model import MODEL_NAME, pick_unused_port, request_inputs

# isort: off
import tensorflow as tf

# isort: on


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture(scope="module")
def predict_stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(inputs=None, name=MODEL_NAME, signature="", version=None, output_filter=()):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for alias, value in (request_inputs() if inputs is None else inputs).items():
        request.inputs[alias].CopyFrom(tensors.to_proto(tensors.as_array(value)))
    return request


def expect_error(call, request, code: grpc.StatusCode, text: str = "") -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=10)
    assert raised.value.code() == code, raised.value.details()
    assert text in raised.value.details()


def test_predict_equals_calling_the_loaded_signature(grpc_client, loaded_v1):
    inputs = request_inputs()
    outputs = grpc_client.predict(inputs)
    expected = loaded_v1.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    assert set(outputs) == {"item_ids", "scores"}
    assert outputs["scores"].dtype == np.float32
    np.testing.assert_allclose(outputs["scores"], expected["scores"].numpy(), rtol=1e-6)
    assert outputs["item_ids"].tolist() == expected["item_ids"].numpy().tolist()
    assert outputs["item_ids"][0].tolist() == [b"item_c", b"item_a"]  # bytes, as TF returns them


def test_second_signature_is_served(grpc_client, loaded_v1):
    outputs = grpc_client.predict({"user_id": ["bob"], "item_id": ["item_b"]}, signature_name="score")
    expected = loaded_v1.signatures["score"](user_id=tf.constant(["bob"]), item_id=tf.constant(["item_b"]))
    np.testing.assert_allclose(outputs["score"], expected["score"].numpy())


def test_response_echoes_effective_model_spec_with_typed_fields(predict_stub):
    response = predict_stub.Predict(predict_request(), timeout=10)
    assert response.model_spec.name == MODEL_NAME
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert len(response.outputs["scores"].float_val) == 4  # AsProtoField, not tensor_content
    assert not response.outputs["scores"].tensor_content
    assert response.outputs["item_ids"].string_val[0] == b"item_c"


def test_output_filter_returns_only_the_requested_outputs(predict_stub):
    response = predict_stub.Predict(predict_request(output_filter=["scores"]), timeout=10)
    assert set(response.outputs) == {"scores"}


def test_explicit_version_is_served(grpc_client):
    assert grpc_client.predict(request_inputs(), version=1)["scores"].shape == (2, 2)


def test_metadata_lists_both_signatures_with_dtypes_and_shapes(grpc_client):
    metadata = grpc_client.metadata()
    assert set(metadata) == {"serving_default", "score"}
    assert metadata["serving_default"]["inputs"] == {
        "history": {"dtype": "string", "shape": [-1, 3]},
        "user_id": {"dtype": "string", "shape": [-1]},
    }
    assert metadata["serving_default"]["outputs"] == {
        "item_ids": {"dtype": "string", "shape": [-1, 2]},
        "scores": {"dtype": "float32", "shape": [-1, 2]},
    }
    assert metadata["score"]["outputs"] == {"score": {"dtype": "float32", "shape": [-1]}}


def test_raw_metadata_is_a_packed_signature_def_map(predict_stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = MODEL_NAME
    response = predict_stub.GetModelMetadata(request, timeout=10)
    assert response.model_spec.version.value == 1 and not response.model_spec.signature_name
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert {"serving_default", "score", "__saved_model_init_op"} <= set(signature_defs.signature_def)
    assert signature_defs.signature_def["serving_default"].method_name == "tensorflow/serving/predict"


@pytest.mark.parametrize(
    ("fields", "text"),
    [([], "must specify at least one metadata_field"), (["graph"], "Metadata field graph is not supported")],
)
def test_metadata_field_errors(predict_stub, fields, text):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = MODEL_NAME
    expect_error(predict_stub.GetModelMetadata, request, grpc.StatusCode.INVALID_ARGUMENT, text)


def test_status_shows_version_1_available(grpc_client, model_stub):
    assert grpc_client.status() == [
        {"version": 1, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}
    ]
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL_NAME
    request.model_spec.version.value = 1
    (status,) = model_stub.GetModelStatus(request, timeout=10).model_version_status
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE and status.status.error_code == 0


def test_status_errors(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    expect_error(model_stub.GetModelStatus, request, grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    request.model_spec.name = "nope"
    expect_error(model_stub.GetModelStatus, request, grpc.StatusCode.NOT_FOUND, "Could not find any versions")
    request.model_spec.name = MODEL_NAME
    request.model_spec.version.value = 9
    expect_error(model_stub.GetModelStatus, request, grpc.StatusCode.NOT_FOUND, "Could not find version 9")


def _with(request, change):
    change(request)
    return request


INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
FLOAT_USER = {"user_id": np.array([1.0], np.float32), "history": [["item_a", "", ""]]}
PREDICT_ERRORS = {
    "no_model_spec": (
        _with(predict_request(), lambda r: r.ClearField("model_spec")),
        INVALID,
        "Missing ModelSpec",
    ),
    "empty_name": (predict_request(name=""), INVALID, "no name specified"),
    "unknown_model": (
        predict_request(name="nope"),
        NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    ),
    "unknown_version": (predict_request(version=7), NOT_FOUND, f"Specific({MODEL_NAME}, 7)"),
    "unknown_label": (
        _with(predict_request(), lambda r: setattr(r.model_spec, "version_label", "stable")),
        INVALID,
        "Unrecognized servable version label: stable",
    ),
    "unknown_signature": (
        predict_request(signature="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found.',
    ),
    "no_inputs": (predict_request(inputs={}), INVALID, "input size does not match signature"),
    "missing_input": (
        predict_request(inputs={"user_id": ["alice"]}),
        INVALID,
        "Missing but required: {history}",
    ),
    "extra_input": (
        predict_request(inputs={**request_inputs(), "extra": ["x", "y"]}),
        INVALID,
        "Sent extra: {extra}",
    ),
    "misnamed_input": (
        predict_request(inputs={"user_id": ["a"], "hist": [["a", "b", "c"]]}),
        INVALID,
        "input tensor alias not found in signature: hist",
    ),
    "wrong_dtype": (
        predict_request(inputs=FLOAT_USER),
        INVALID,
        "Expects arg[1] to be string but float is provided",
    ),
    "wrong_rank": (predict_request(inputs={"user_id": ["a"], "history": ["a", "b", "c"]}), INVALID, ""),
    "wrong_inner_dim": (predict_request(inputs={"user_id": ["a"], "history": [["a", "b"]]}), INVALID, ""),
    "batch_mismatch_inside_model": (
        predict_request(inputs={"user_id": ["a", "b"], "history": [["a", "b", "c"]] * 3}),
        INVALID,
        "",
    ),
    "unknown_output_filter": (
        predict_request(output_filter=["nope"]),
        INVALID,
        "output tensor alias not found",
    ),
    "duplicate_output_filter": (
        predict_request(output_filter=["scores", "scores"]),
        INVALID,
        "duplicate output tensor alias: scores",
    ),
}


@pytest.mark.parametrize("case", list(PREDICT_ERRORS))
def test_predict_errors_have_tf_serving_codes(predict_stub, case):
    request, code, text = PREDICT_ERRORS[case]
    expect_error(predict_stub.Predict, request, code, text)


def test_unparseable_tensor_is_invalid_argument(predict_stub):
    request = predict_request()
    request.inputs["user_id"].CopyFrom(tensors.to_proto(np.array([1.0, 2.0], np.float32)))
    request.inputs["user_id"].ClearField("float_val")
    request.inputs["user_id"].tensor_content = b"\x00\x01\x02"  # 3 bytes cannot be 2 floats
    expect_error(predict_stub.Predict, request, INVALID, "tensor parsing error: user_id")


def test_readiness_probe_of_tf_serving_tests_sees_servable(predict_stub):
    expect_error(
        predict_stub.Predict, predict_request(name="intentionally_missing_model"), NOT_FOUND, "Servable"
    )


def test_classify_regress_and_multi_inference_are_unimplemented(predict_stub):
    unimplemented = grpc.StatusCode.UNIMPLEMENTED
    expect_error(predict_stub.Classify, classification_pb2.ClassificationRequest(), unimplemented)
    expect_error(predict_stub.Regress, regression_pb2.RegressionRequest(), unimplemented)
    expect_error(predict_stub.MultiInference, inference_pb2.MultiInferenceRequest(), unimplemented)


def test_client_raises_serving_error_and_server_keeps_serving(grpc_client):
    with pytest.raises(ServingError) as raised:
        grpc_client.predict({"user_id": ["alice"]})
    assert raised.value.code == INVALID and "Missing" in raised.value.message
    assert grpc_client.predict(request_inputs())["scores"].shape == (2, 2)


def test_client_gives_up_after_retrying_unavailable():
    with GrpcClient(f"127.0.0.1:{pick_unused_port()}", MODEL_NAME, timeout=2, retries=2) as client:
        with pytest.raises(ServingError) as raised:
            client.status()
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
