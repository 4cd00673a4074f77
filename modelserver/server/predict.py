"""Predict on a loaded version: TF Serving's checks of a ``PredictRequest``, then running the signature.

Shared by the gRPC front (``grpc_service.py``) and the warm-up replay (``warmup.py``). The order and
wording of the checks are TF Serving's (``predict_util.cc``: input count, input aliases, output filter,
tensor parsing, then dtypes as TF's runtime words them). ``Executor`` is where a checked request is
run: directly, or through the batch scheduler when batching is on; it also samples the runtime latency.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2

from modelserver import tensors
from modelserver.saved_model import DEFAULT_SIGNATURE
from modelserver.server.batching import BatchScheduler
from modelserver.server.memory import MemoryTrimmer
from modelserver.server.messages import clip, set_str
from modelserver.server.metrics import ServingMetrics
from modelserver.server.servable import Servable, Signature
from modelserver.status import ServingError, invalid

DEFAULT_MAX_TENSOR_BYTES = 32 * 2**20
# The dtypes signatures commonly return, and their typed TensorProto fields (as ``modelserver.tensors``).
_FIELDS = {
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int32: "int_val",
    tf.int64: "int64_val",
    tf.bool: "bool_val",
    tf.string: "string_val",
}


class Executor:
    """Runs checked inputs through a signature, batched or not, and records ``runtime_latency``.

    Args:
        metrics: where to record.
        scheduler: the batch scheduler, or None to run every request on its own.
        trimmer: told the rows of every request run, to give memory back after large ones.
        max_execution_rows: unbatched requests with more rows run in slices of this many (0: never).
    """

    def __init__(
        self,
        metrics: ServingMetrics,
        scheduler: BatchScheduler | None = None,
        trimmer: MemoryTrimmer | None = None,
        max_execution_rows: int = 0,
    ):
        self.metrics = metrics
        self.scheduler = scheduler
        self.trimmer = trimmer
        self.max_execution_rows = max_execution_rows

    def run(
        self,
        model_name: str,
        signature: Signature,
        arrays: Mapping[str, np.ndarray],
        output_filter: Iterable[str] = (),
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Returns the outputs (only ``output_filter``'s, when given) for one request's inputs."""
        try:
            if self.scheduler is not None:
                outputs = self.scheduler.run(model_name, signature, arrays, timeout)
                wanted = list(output_filter) or list(outputs)
                return {alias: outputs[alias] for alias in wanted}
            start = time.perf_counter()
            outputs = signature.run_in_slices(arrays, output_filter, self.max_execution_rows)
            micros = (time.perf_counter() - start) * 1e6
            self.metrics.runtime_latency.observe(micros, model_name, "Predict", "TF2")
            return outputs
        finally:
            if self.trimmer is not None:
                self.trimmer.request_done(max((len(a) for a in arrays.values() if np.ndim(a)), default=0))


def predict(
    servable: Servable,
    request: predict_pb2.PredictRequest,
    executor: Executor,
    model_name: str,
    timeout: float | None = None,
    max_tensor_bytes: int = DEFAULT_MAX_TENSOR_BYTES,
    max_rows: int | None = None,
) -> predict_pb2.PredictResponse:
    """Checks ``request`` against the servable's signature, runs it, and builds the response.

    Args:
        servable: the version that answers.
        request: the PredictRequest.
        executor: runs the signature.
        model_name: the model's name, for the response and the metrics.
        timeout: seconds the request may still wait for a batch.
        max_tensor_bytes: largest decoded size of one input tensor.
        max_rows: largest batch dimension (dim 0 of the inputs); None for no limit (warm-up).

    Raises:
        ServingError: with TF Serving's code and wording for the first problem found.
    """
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = servable.signature(signature_name)
    check_input_aliases(signature, request.inputs)
    output_filter = checked_output_filter(signature, request.output_filter)
    arrays = decoded_inputs(request.inputs, signature, max_tensor_bytes, max_rows)
    outputs = executor.run(model_name, signature, arrays, output_filter, timeout)
    response = predict_pb2.PredictResponse()
    for alias, array in outputs.items():
        fill_proto(response.outputs[alias], array, signature.outputs[alias].dtype)
    echo_spec(response.model_spec, model_name, servable.version, signature_name)
    return response


def decoded_inputs(
    protos: Mapping[str, tensor_pb2.TensorProto], signature: Signature, max_bytes: int, max_rows: int | None
) -> dict[str, np.ndarray]:
    """The input tensors as arrays, after the checks that need no decoding (size, rows) and with the
    dtypes checked against the signature."""
    for alias, proto in protos.items():
        check_decoded_size(alias, proto, max_bytes)
    dims = [proto.tensor_shape.dim for proto in protos.values()]
    check_rows(max((d[0].size for d in dims if d), default=0), max_rows)
    arrays, dtypes = {}, {}
    for alias, proto in protos.items():
        try:
            arrays[alias] = tensors.from_proto(proto)
            dtypes[alias] = tensors.dtype_of_enum(proto.dtype)
        except Exception as error:  # noqa: BLE001 - any undecodable proto is the client's error.
            raise invalid(f"tensor parsing error: {clip(alias)} ({error})") from error
    signature.check_dtypes(dtypes)
    return arrays


def fill_proto(proto: tensor_pb2.TensorProto, array: np.ndarray, dtype: tf.DType) -> None:
    """Writes ``array`` into an empty ``proto`` as ``tensors.to_proto`` encodes it (typed fields).

    The common dtypes are written in one ``extend`` of a list, in place: half the time of building a
    separate proto and copying it, on every response.
    """
    field = _FIELDS.get(dtype)
    if field is None or (dtype == tf.string and array.dtype != object):
        proto.CopyFrom(tensors.to_proto(array, dtype))
        return
    proto.dtype = dtype.as_datatype_enum
    proto.tensor_shape.SetInParent()  # present even for a scalar, as tensors.to_proto writes it
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(array.ravel().tolist())


def check_decoded_size(alias: str, proto: tensor_pb2.TensorProto, limit: int) -> None:
    """Refuses a tensor that would decode to more than ``limit`` bytes.

    A TensorProto may declare a shape far larger than the values it carries (TF fills the rest with
    the last value), so a few bytes on the wire can ask for gigabytes of memory.
    """
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid(f"tensor parsing error: {clip(alias)} (negative dimension in shape {clip(dims)})")
    elements = math.prod(dims)
    if elements * 8 > limit:  # 8 bytes: the widest numeric type, and a string's pointer
        raise ServingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"tensor parsing error: {clip(alias)} (shape {clip(dims)} has {elements} elements, more than "
            f"the server's limit of {limit // 8})",
        )


def check_rows(rows: int, limit: int | None) -> None:
    """Refuses a request whose batch dimension is above ``limit`` (the server's ``--max_request_rows``).

    The rows of a request set its cost (a retrieval model scores every row against the whole catalog),
    so this bounds the time and memory one request can take, whatever its signature.
    """
    if limit is not None and rows > limit:
        raise invalid(
            f"request has {rows} rows; this server accepts at most {limit} per request (--max_request_rows)"
        )


def check_input_aliases(signature: Signature, inputs: Mapping) -> None:
    """TF Serving's VerifyRequestInputsSize, then the alias check, with its exact wording."""
    sent, expected = set(inputs), set(signature.inputs)
    if len(sent) != len(expected):
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({set_str(sent)}) != len({set_str(expected)}). Sent extra: {set_str(sent - expected)}. "
            f"Missing but required: {set_str(expected - sent)}."
        )
    for alias in sorted(sent - expected):
        raise invalid(
            f"input tensor alias not found in signature: {clip(alias)}. "
            f"Inputs expected to be in the set {set_str(expected)}."
        )


def checked_output_filter(signature: Signature, output_filter) -> list[str]:
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {clip(alias)} "
                f"Outputs expected to be in the set {set_str(signature.outputs)}."
            )
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {clip(alias)}")
        seen.add(alias)
    return list(output_filter)


def echo_spec(spec, name: str, version: int, signature_name: str = "") -> None:
    spec.name = name
    spec.version.value = version
    spec.signature_name = signature_name
