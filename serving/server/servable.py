"""One loaded version of a SavedModel: its signatures, their contracts, and running them.

The registry (``registry.py``) owns the versions; the gRPC and REST fronts validate the request format
that is theirs, then hand numpy arrays to ``Signature.run``. Nothing here knows a feature name: the
contract of each signature is read from the model itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2

from msrec import signatures
from serving import tensors
from serving.gate import foreign_ops, read_meta_graph
from serving.server.messages import clip
from serving.status import ServingError, invalid

SERVE_TAG = signatures.SERVE_TAG
DEFAULT_SIGNATURE = signatures.DEFAULT

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
        for index, (alias, spec) in enumerate(self.inputs.items()):
            shape = np.shape(arrays[alias])
            if not spec.shape.is_compatible_with(shape):
                raise invalid(
                    f"Expects arg[{index}] ({alias}) to have shape {_shape_str(spec.shape)} but "
                    f"{_shape_str(shape)} is provided"
                )

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
            results = self.function(**feeds)
        except tf.errors.OpError as error:
            raise ServingError(grpc_code(error.error_code), error.message) from error
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
                f"Op type not registered '{unavailable[0]}' in binary running on msrec serve "
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


def _shape_str(shape: tf.TensorShape | tuple) -> str:
    dims = tf.TensorShape(shape).as_list() if tf.TensorShape(shape).rank is not None else None
    if dims is None:
        return "<unknown>"
    return "[" + ",".join("-1" if d is None else str(d) for d in dims) + "]"
