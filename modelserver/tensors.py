"""TensorProto <-> numpy conversion and TF dtype naming, shared by the gRPC server and client.

The server encodes outputs the way TF Serving does by default (``AsProtoField``: typed ``*_val`` fields,
not ``tensor_content``), because many TF Serving clients read ``outputs[...].float_val`` directly.
Decoding uses ``tf.make_ndarray``, which accepts both encodings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

# DataTypeString() spellings that differ from tf.DType.name; they appear in TF runtime error messages.
_TF_RUNTIME_NAMES = {tf.float32: "float", tf.float64: "double", tf.float16: "half"}

# dtype -> the typed TensorProto field TF Serving fills (tensor.proto).
_PROTO_FIELDS = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


def runtime_name(dtype: tf.DType) -> str:
    """The dtype as TF's C++ runtime spells it in errors ("float", not "float32")."""
    return _TF_RUNTIME_NAMES.get(dtype, dtype.name)


def dtype_of_enum(enum_value: int | str) -> tf.DType:
    """``DT_FLOAT`` (enum number or name) -> ``tf.float32``."""
    if isinstance(enum_value, str):
        enum_value = types_pb2.DataType.Value(enum_value)
    return tf.as_dtype(enum_value)


def to_proto(array: Any, dtype: tf.DType | None = None) -> tensor_pb2.TensorProto:
    """Encodes an array as a TensorProto with typed ``*_val`` fields where TF Serving uses them.

    Args:
        array: a numpy array (or anything ``as_array`` accepts).
        dtype: the TF dtype; derived from the array when omitted.

    Returns:
        The TensorProto.
    """
    array = as_array(array)
    dtype = dtype or tf.as_dtype(array.dtype)
    field = _PROTO_FIELDS.get(dtype.as_datatype_enum)
    if field is None:
        return tf.make_tensor_proto(array, dtype=dtype)
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in array.shape]
    )
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum, tensor_shape=shape)
    values = array.ravel()
    if dtype == tf.string:
        getattr(proto, field).extend(_as_bytes(v) for v in values)
    else:
        getattr(proto, field).extend(values.tolist())
    return proto


def from_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decodes a TensorProto (typed fields or ``tensor_content``); DT_STRING gives bytes objects."""
    return tf.make_ndarray(proto)


def as_array(value: Any) -> np.ndarray:
    """Turns a request value into a numpy array with the dtype a TF client would send.

    numpy arrays keep their dtype, except that unicode and bytes arrays become object arrays of bytes
    (DT_STRING). Python lists and scalars follow ``tf.constant`` for floats (float32) and numpy for
    ints (int64, the usual dtype of integer features); pass typed numpy arrays to choose otherwise.

    Args:
        value: a numpy array, a (nested) list or a scalar.

    Returns:
        The numpy array.
    """
    explicit = isinstance(value, (np.ndarray, np.generic))
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        flat = [_as_bytes(v) for v in array.ravel()]
        result = np.empty(len(flat), dtype=object)
        result[:] = flat
        return result.reshape(array.shape)
    if not explicit and array.dtype == np.float64:
        return array.astype(np.float32)
    return array


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.bytes_):
        return bytes(value)
    raise TypeError(f"expected str or bytes in a string tensor, got {type(value).__name__}")
