"""TF Serving's JSON tensor mapping and TensorProto encoding, on hand-written values (json_tensor_test.cc)."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2

from modelserver import json_tensor, tensors
from modelserver.server import predict
from modelserver.status import ServingError

# isort: off
import tensorflow as tf

# isort: on


def test_json_strings_are_utf8_and_b64_is_raw_bytes():
    array = json_tensor.json_to_array([["é", {"b64": "/w=="}]], tf.string)
    assert array.shape == (1, 2) and array.dtype == object
    assert array.tolist() == [["é".encode(), b"\xff"]]


def test_json_numbers_follow_the_signature_dtype():
    floats = json_tensor.json_to_array([1, 2.5, float("nan"), float("inf")], tf.float32)
    assert floats.dtype == np.float32 and floats[1] == 2.5 and math.isnan(floats[2]) and floats[3] == np.inf
    assert json_tensor.json_to_array([[1], [2]], tf.int64).tolist() == [[1], [2]]
    assert json_tensor.json_to_array(True, tf.bool).shape == ()
    assert json_tensor.json_to_array([], tf.float32).shape == (0,)


@pytest.mark.parametrize(
    ("value", "dtype", "text"),
    [
        ([[1.0], [2.0, 3.0]], tf.float32, "Expecting shape"),
        (["a"], tf.float32, 'JSON Value: "a" Type: String is not of expected type: float'),
        ([1.5], tf.int64, "is not of expected type: int64"),
        ([True], tf.float32, "is not of expected type: float"),
        ([1], tf.string, "is not of expected type: string"),
        ([2**70], tf.int64, "out of range"),
    ],
)
def test_json_errors_are_invalid_argument(value, dtype, text):
    with pytest.raises(ServingError) as raised:
        json_tensor.json_to_array(value, dtype)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT and text in raised.value.message


def test_outputs_print_float32_shortest_and_bytes_by_alias_rule():
    assert json_tensor.array_to_json(np.array([0.1, 1.0], np.float32), tf.float32) == [0.1, 1.0]
    ids = np.array([b"a", b"\xff"], dtype=object)
    assert json_tensor.array_to_json(ids, tf.string, "ids") == ["a", {"b64": "/w=="}]
    assert json_tensor.array_to_json(ids[:1], tf.string, "ids_bytes") == [{"b64": "YQ=="}]
    assert json_tensor.array_to_json(np.int64(3), tf.int64) == 3


def test_row_response_needs_a_shared_batch_dimension():
    specs = {"a": tf.TensorSpec([None], tf.float32), "b": tf.TensorSpec([None], tf.float32)}
    body = json_tensor.response_body({"a": np.zeros(2, np.float32), "b": np.ones(2, np.float32)}, specs, True)
    assert body == {"predictions": [{"a": 0.0, "b": 1.0}, {"a": 0.0, "b": 1.0}]}
    with pytest.raises(ServingError, match="inconsistent batch size"):
        json_tensor.response_body({"a": np.zeros(2, np.float32), "b": np.ones(3, np.float32)}, specs, True)
    with pytest.raises(ServingError, match="no shape information"):
        json_tensor.response_body({"a": np.float32(1)}, specs, True)
    assert json_tensor.response_body({"a": np.float32(1)}, specs, False) == {"outputs": 1.0}


@pytest.mark.parametrize(
    ("array", "field"),
    [
        (np.array([[1.5, 2.0]], np.float32), "float_val"),
        (np.array([1.5], np.float64), "double_val"),
        (np.array([7], np.int32), "int_val"),
        (np.array([[7, 8]], np.int64), "int64_val"),
        (np.array([True]), "bool_val"),
        (np.array([b"x", b"y"], dtype=object), "string_val"),
    ],
)
def test_tensor_protos_use_typed_fields_and_round_trip(array, field):
    proto = tensors.to_proto(array)
    assert len(getattr(proto, field)) == array.size and not proto.tensor_content
    np.testing.assert_array_equal(tensors.from_proto(proto), array)


def test_request_values_get_a_tf_clients_dtypes():
    assert tensors.as_array([1.0, 2.0]).dtype == np.float32  # like tf.constant
    assert tensors.as_array(np.array([1.0])).dtype == np.float64  # explicit dtypes are kept
    assert tensors.as_array([1, 2]).dtype == np.int64
    assert tensors.as_array(np.array(["é"])).tolist() == ["é".encode()]


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1.5, 2.0]], np.float32),
        np.array([1.5], np.float64),
        np.array([7], np.int32),
        np.array([[7, 8]], np.int64),
        np.array([True, False]),
        np.array([[b"x", b"\xff"]], dtype=object),
        np.float32(2.5),
        np.array([1, 2], np.uint8),  # not a fast-path dtype
    ],
)
def test_response_encoding_equals_the_shared_encoder(array):
    dtype = tf.as_dtype(np.asarray(array).dtype) if np.asarray(array).dtype != object else tf.string
    proto = tensor_pb2.TensorProto()
    predict.fill_proto(proto, np.asarray(array), dtype)
    assert proto == tensors.to_proto(array, dtype)
