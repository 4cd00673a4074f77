"""One loaded version of a SavedModel: its signatures, their contracts, and running them.

The registry (``registry.py``) owns the versions; the gRPC and REST fronts validate the request format
that is theirs, then hand numpy arrays to ``Signature.run``. Nothing here knows a feature name: the
contract of each signature is read from the model itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2

from modelserver import tensors
from modelserver.gate import foreign_ops, read_meta_graph
from modelserver.saved_model import SERVE_TAG
from modelserver.server.messages import clip
from modelserver.status import ServingError, invalid

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def grpc_code(tf_error_code: int) -> grpc.StatusCode:
    """TF's canonical error code (``tf.errors.OpError.error_code``) as a ``grpc.StatusCode``."""
    return _CODES_BY_NUMBER.get(tf_error_code, grpc.StatusCode.UNKNOWN)


class Signature:
    """A callable signature with its input and output contract (aliases -> ``tf.TensorSpec``).

    Input aliases are kept sorted: TF's runtime numbers the arguments of a signature function in that
    order, which is what ``arg[i]`` in its dtype errors refers to.
    """

    def __init__(self, name: str, function: tf.types.experimental.ConcreteFunction):
        self.name = name
        self.function = function
        _, kwargs = function.structured_input_signature
        self.inputs: dict[str, tf.TensorSpec] = dict(sorted(kwargs.items()))
        outputs = function.structured_outputs
        if not isinstance(outputs, Mapping):
            raise ValueError(f"signature {name!r} does not return a dict of tensors")
        self.outputs: dict[str, tf.TensorSpec] = dict(sorted(outputs.items()))
        # per input: its dims (None for an unknown dim), or None for an unknown rank; read per request
        self._dims = {alias: _dims(spec.shape) for alias, spec in self.inputs.items()}
        self._call = _flat_caller(function) or (lambda feeds: function(**feeds))
        specs = [*self.inputs.values(), *self.outputs.values()]
        # Every tensor has a free batch dimension 0: the signature answers row by row (TF Serving's
        # batching assumes as much), so a request may run in slices of rows.
        self.row_wise = all(spec.shape.rank and spec.shape[0] is None for spec in specs)

    def check_dtypes(self, dtypes: Mapping[str, tf.DType]) -> None:
        """Raises INVALID_ARGUMENT, worded like TF's runtime, if an input has the wrong dtype."""
        for index, (alias, spec) in enumerate(self.inputs.items()):
            given = dtypes.get(alias)
            if given is not None and given != spec.dtype:
                raise invalid(
                    f"Expects arg[{index}] to be {tensors.runtime_name(spec.dtype)} but "
                    f"{tensors.runtime_name(given)} is provided"
                )

    def check_shapes(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Raises INVALID_ARGUMENT if an input's shape does not fit the signature's TensorSpec."""
        for index, (alias, dims) in enumerate(self._dims.items()):
            shape = np.shape(arrays[alias])
            if dims is None or (
                len(shape) == len(dims) and all(d is None or d == n for d, n in zip(dims, shape, strict=True))
            ):
                continue
            raise invalid(
                f"Expects arg[{index}] ({alias}) to have shape {_shape_str(self.inputs[alias].shape)} but "
                f"{_shape_str(shape)} is provided"
            )

    def run_in_slices(
        self, arrays: Mapping[str, np.ndarray], output_filter: Iterable[str] = (), max_rows: int = 0
    ) -> dict[str, np.ndarray]:
        """``run``, on at most ``max_rows`` rows at a time when the signature is row-wise (0: all).

        The memory of a run grows with its rows (a retrieval model scores every row against the whole
        catalog), and TensorFlow's oneDNN allocator keeps the largest run's memory for good, so slices
        bound both the peak and what stays resident after a large request.

        Raises:
            ServingError: as ``run``; FAILED_PRECONDITION if a slice's outputs lose the row dimension.
        """
        rows = {len(a) for a in arrays.values() if np.ndim(a)}
        if not max_rows or not self.row_wise or len(rows) != 1 or max(rows) <= max_rows:
            return self.run(arrays, output_filter)
        parts, total = [], rows.pop()
        for start in range(0, total, max_rows):
            rows_slice = slice(start, min(start + max_rows, total))
            part = self.run({alias: a[rows_slice] for alias, a in arrays.items()}, output_filter)
            size = rows_slice.stop - rows_slice.start
            if any(np.ndim(out) == 0 or len(out) != size for out in part.values()):
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Signature {self.name} returned outputs without one row per input row; run it with "
                    "--max_execution_rows above the request's rows",
                )
            parts.append(part)
        return {alias: np.concatenate([part[alias] for part in parts]) for alias in parts[0]}

    def run(
        self, arrays: Mapping[str, np.ndarray], output_filter: Iterable[str] = ()
    ) -> dict[str, np.ndarray]:
        """Runs the signature on one complete set of inputs.

        Args:
            arrays: alias -> array for every input of the signature, already of the right dtype.
            output_filter: output aliases to return; empty means all of them.

        Returns:
            alias -> numpy array (DT_STRING outputs as object arrays of bytes).

        Raises:
            ServingError: INVALID_ARGUMENT for a shape the signature does not accept, or the status of
                the error the model raised.
        """
        self.check_shapes(arrays)
        try:
            feeds = {
                alias: tf.convert_to_tensor(arrays[alias], dtype=spec.dtype)
                for alias, spec in self.inputs.items()
            }
            results = self._call(feeds)
        except tf.errors.OpError as error:
            raise ServingError(grpc_code(error.error_code), error.message) from error
        except UnicodeDecodeError as error:
            # TF could not turn the model's error into a Python string: the message quotes input bytes
            # that are not UTF-8 (e.g. ParseExample on garbage). The bytes it failed on are that message;
            # the status code is lost with it, and INVALID_ARGUMENT is what such input errors carry.
            raise invalid(_decoded(error.object)) from error
        except (TypeError, ValueError) as error:
            raise invalid(str(error)) from error
        wanted = list(output_filter) or list(self.outputs)
        return {alias: results[alias].numpy() for alias in wanted}


class Servable:
    """A SavedModel version loaded for serving: callable signatures plus the SignatureDefs of its graph.

    Attributes:
        version: the version number (the directory name).
        path: the version directory.
        signatures: name -> ``Signature``.
        signature_defs: name -> ``SignatureDef`` from ``saved_model.pb``, including TF2's
            ``__saved_model_init_op`` (GetModelMetadata reports all of them, as TF Serving does).
    """

    def __init__(self, version: int, path: str, loaded: object, signature_defs: Mapping[str, object]):
        self.version = version
        self.path = path
        self._loaded = loaded  # keeps the model's variables and tables alive while requests use it.
        self.signatures = {name: Signature(name, fn) for name, fn in loaded.signatures.items()}
        self.signature_defs = dict(signature_defs)

    @classmethod
    def load(cls, version: int, path: str) -> Servable:
        """Loads the ``serve`` MetaGraph of the SavedModel in ``path``.

        Raises:
            ServingError: with the code TF would report for the failure.
        """
        meta_graph = read_meta_graph(path)
        unavailable = foreign_ops(meta_graph)
        if unavailable:
            # TF Serving's binary has neither Python nor custom ops: it fails such a model at load.
            raise ServingError(
                grpc.StatusCode.NOT_FOUND,
                f"Op type not registered '{unavailable[0]}' in binary running on modelserver "
                f"(TF Serving has only stock TensorFlow ops; found {', '.join(unavailable)})",
            )
        try:
            return cls(version, path, tf.saved_model.load(path, tags=[SERVE_TAG]), meta_graph.signature_def)
        except tf.errors.OpError as error:
            raise ServingError(grpc_code(error.error_code), error.message) from error
        except Exception as error:  # noqa: BLE001 - any loader failure is a failed version, not a crash.
            raise ServingError(grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}") from error

    def signature(self, name: str) -> Signature:
        """Returns the signature, or FAILED_PRECONDITION worded as TF Serving's Predict does."""
        if name not in self.signatures:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{clip(name)}" not found.'
            )
        return self.signatures[name]

    def signature_def_map(self) -> get_model_metadata_pb2.SignatureDefMap:
        result = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in self.signature_defs.items():
            result.signature_def[name].CopyFrom(signature_def)
        return result


def _flat_caller(function) -> Callable[[dict], dict] | None:
    """``function(**feeds)`` without binding the arguments anew on every call, or None when unsure.

    A signature's ConcreteFunction binds its keyword arguments to its FunctionType on each call, then
    passes them to ``_call_flat`` in the FunctionType's order. Binding once here saves about 60 us per
    request, a fifth of a small model's call. ``_call_flat`` is TF's private API, so any signature that
    is not plain keyword-only tensors takes the public call; ``run`` checks dtypes and shapes itself,
    which the binding would otherwise do.
    """
    try:
        parameters = list(function.function_type.parameters.values())
        call_flat = function._call_flat
    except AttributeError:
        return None
    plain = [p.kind == p.KEYWORD_ONLY and isinstance(p.type_constraint, tf.TensorSpec) for p in parameters]
    if not all(plain):
        return None
    names = [p.name for p in parameters]
    return lambda feeds: call_flat([feeds[name] for name in names], captured_inputs=function.captured_inputs)


def _dims(shape: tf.TensorShape) -> tuple[int | None, ...] | None:
    return None if shape.rank is None else tuple(shape.as_list())


def _shape_str(shape: tf.TensorShape | tuple) -> str:
    dims = tf.TensorShape(shape).as_list() if tf.TensorShape(shape).rank is not None else None
    if dims is None:
        return "<unknown>"
    return "[" + ",".join("-1" if d is None else str(d) for d in dims) + "]"


def _decoded(raw: object) -> str:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw).decode("utf-8", "backslashreplace")
    return str(raw)
