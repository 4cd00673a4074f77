"""TF Serving's REST JSON mapping of tensors (``g3doc/api_rest.md``, ``util/json_tensor.cc``).

Used by the REST front to turn ``instances``/``inputs`` into arrays and outputs into
``predictions``/``outputs``, and by the REST client for the reverse direction. The signature's dtype
decides how a JSON value is read: strings are UTF-8, ``{"b64": ...}`` is raw bytes, numbers and
``NaN``/``Infinity`` tokens are numbers, ``true``/``false`` are bools.

Output strings are UTF-8 strings, or ``{"b64": ...}`` when the output alias ends in ``_bytes`` (TF
Serving's rule) — and also, unlike TF Serving, when the bytes are not valid UTF-8, so that the JSON
stays valid and lossless.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from modelserver.status import invalid
from modelserver.tensors import runtime_name

_SHORTEST_FLOATS = (tf.float16, tf.bfloat16, tf.float32)


def json_to_array(value: Any, dtype: tf.DType) -> np.ndarray:
    """Reads a JSON value (scalar or rectangular nested lists) as an array of ``dtype``.

    Raises:
        ServingError: INVALID_ARGUMENT for ragged lists or a value of the wrong JSON type.
    """
    shape = _shape(value)
    leaves: list = []
    _flatten(value, leaves)
    converted = [_read_leaf(leaf, dtype) for leaf in leaves]
    if dtype == tf.string:
        array = np.empty(len(converted), dtype=object)
        array[:] = converted
    else:
        try:
            array = np.array(converted, dtype=dtype.as_numpy_dtype)
        except (OverflowError, ValueError) as error:
            raise invalid(f"JSON Value out of range for type {runtime_name(dtype)}: {error}") from error
    return array.reshape(shape)


def array_to_json(array: np.ndarray, dtype: tf.DType, name: str = "") -> Any:
    """Writes an array as JSON-ready Python values (nested lists for rank > 0).

    Args:
        array: the values.
        dtype: their TF dtype (decides the string and float encodings).
        name: the tensor alias; string outputs whose alias ends in ``_bytes`` are written as b64.
    """
    array = np.asarray(array)
    if dtype == tf.string:
        as_b64 = name.endswith("_bytes")
        flat = [_write_bytes(v, as_b64) for v in array.ravel()]
    elif dtype in _SHORTEST_FLOATS:
        flat = [float(str(v)) for v in array.astype(np.float32).ravel()]  # shortest float32 repr
    else:
        return array.tolist()
    if array.ndim == 0:
        return flat[0]
    nested = np.empty(len(flat), dtype=object)
    nested[:] = flat
    return nested.reshape(array.shape).tolist()


def read_body(raw: bytes) -> dict:
    """Parses a predict request body and checks its top-level keys, with TF Serving's messages."""
    if not raw.strip():
        raise invalid("JSON Parse error: The document is empty")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid(f"JSON Parse error: Invalid value. {error}") from error
    if not isinstance(body, dict):
        raise invalid("JSON Parse error: the request body must be a JSON object")
    if not isinstance(body.get("signature_name", ""), str):
        raise invalid("'signature_name' key must be a string value.")
    if "instances" in body and "inputs" in body:
        raise invalid("Not a valid JSON: expecting only one of 'inputs' or 'instances' keys to exist")
    if "instances" not in body and "inputs" not in body:
        raise invalid("Missing 'inputs' or 'instances' key")
    return body


def request_arrays(body: Mapping, specs: Mapping[str, tf.TensorSpec]) -> tuple[dict[str, np.ndarray], bool]:
    """Reads the inputs of a checked predict body.

    Returns:
        (alias -> array, True if the request used the row format).
    """
    names = list(specs)
    if "instances" in body:
        rows = _instance_rows(body["instances"], specs)
        return {n: json_to_array([row[n] for row in rows], specs[n].dtype) for n in names}, True
    inputs = body["inputs"]
    if _is_named(inputs, specs):
        for name in names:
            if name not in inputs:
                raise invalid(f"Missing named input: {name} in 'inputs' object.")
        for key in inputs:
            if key not in specs:
                raise invalid(f"JSON object: does not have named input: {key}")
    elif len(names) == 1:
        inputs = {names[0]: inputs}
    else:
        raise invalid(
            "inputs is a plain value/list, but expecting an object as multiple input tensors "
            "required as per tensorinfo_map"
        )
    return {n: json_to_array(inputs[n], specs[n].dtype) for n in names}, False


def response_body(outputs: Mapping[str, np.ndarray], specs: Mapping[str, tf.TensorSpec], row: bool) -> dict:
    """Builds ``{"predictions": ...}`` (row request) or ``{"outputs": ...}`` (columnar request)."""
    values = {n: array_to_json(a, specs[n].dtype, n) for n, a in outputs.items()}
    if not row:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = None
    for name, array in outputs.items():
        if np.ndim(array) == 0:
            raise invalid(f"Tensor name: {name} has no shape information")
        if batch is not None and len(array) != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {len(array)} expecting: {batch}")
        batch = len(array)
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{n: v[i] for n, v in values.items()} for i in range(batch or 0)]}


def _instance_rows(instances: Any, specs: Mapping[str, tf.TensorSpec]) -> list[dict]:
    if not isinstance(instances, list):
        raise invalid("Expecting 'instances' to be an list/array")
    if not instances:
        raise invalid("No values in 'instances' array")
    names = sorted(specs)
    rows = []
    for index, instance in enumerate(instances):
        if _is_named(instance, specs):
            if sorted(instance) != names:
                missing = [n for n in names if n not in instance]
                extra = [k for k in instance if k not in specs]
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON object keys must be "
                    f"equal to: {','.join(names)}. Missing named input: {missing}; "
                    f"does not have named input: {extra}"
                )
            rows.append(instance)
        elif len(names) == 1:
            rows.append({names[0]: instance})
        else:
            raise invalid(f"Expecting object but got list at item {index} of input list")
    return rows


def _is_named(value: Any, specs: Mapping) -> bool:
    """A JSON object keyed by input aliases (a lone ``{"b64": ...}`` is a value, not a name map)."""
    return isinstance(value, dict) and not (set(value) == {"b64"} and "b64" not in specs)


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    inner = _shape(value[0])
    for item in value[1:]:
        if _shape(item) != inner:
            raise invalid(f"Expecting shape {list(inner)} but got: {list(_shape(item))} (ragged lists)")
    return (len(value),) + inner


def _flatten(value: Any, out: list) -> None:
    if isinstance(value, list):
        for item in value:
            _flatten(item, out)
    else:
        out.append(value)


def _read_leaf(value: Any, dtype: tf.DType) -> Any:
    if dtype == tf.string:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except binascii.Error as error:
                raise invalid(f"Unable to base64 decode: {error}") from error
    elif dtype.is_bool:
        if isinstance(value, bool):
            return value
    elif dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    else:
        raise invalid(f"REST API does not support tensors of type {runtime_name(dtype)}")
    raise invalid(
        f"JSON Value: {json.dumps(value)} Type: {_json_type(value)} is not of expected type: "
        f"{runtime_name(dtype)}"
    )


def _json_type(value: Any) -> str:
    names = {bool: "Bool", int: "Number", float: "Number", str: "String", dict: "Object", type(None): "Null"}
    return names.get(type(value), "Array")


def _write_bytes(value: bytes, as_b64: bool) -> Any:
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}
