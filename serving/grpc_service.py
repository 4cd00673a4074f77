"""The gRPC front: ``tensorflow.serving.PredictionService`` and ``ModelService`` on the official stubs.

Request validation follows TF Serving's order and wording (``predict_impl.cc``, ``predict_util.cc``,
``get_model_metadata_impl.cc``, ``get_model_status_impl.cc``) so that clients and tests written against
the stand-in behave the same against production. Every handler turns failures into a status; a bad
request never escapes as an exception.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import tensors
from serving.registry import ModelRegistry, find_registry
from serving.servable import DEFAULT_SIGNATURE, Signature
from serving.status import ServingError, invalid, not_found, truncate

log = logging.getLogger("msrec.serving")

SIGNATURE_DEF_FIELD = "signature_def"


def _rpc(handler):
    """Turns ServingError into its status and any other exception into INTERNAL."""

    @functools.wraps(handler)
    def wrapper(self, request, context):
        try:
            return handler(self, request)
        except ServingError as error:
            context.abort(error.code, truncate(error.message))
        except Exception as error:  # noqa: BLE001 - report, never crash the server.
            log.exception("msrec serve: %s failed", handler.__name__)
            context.abort(grpc.StatusCode.INTERNAL, truncate(f"{type(error).__name__}: {error}"))

    return wrapper


def resolve_spec(models: Mapping[str, ModelRegistry], spec, has_spec: bool = True):
    """Checks a ModelSpec and returns (registry, requested version or None)."""
    if not has_spec:
        raise invalid("Missing ModelSpec")
    if not spec.name:
        raise invalid("ModelSpec has no name specified.")
    if spec.WhichOneof("version_choice") == "version_label":
        raise invalid(f"Unrecognized servable version label: {spec.version_label}")
    version = spec.version.value if spec.HasField("version") else None
    return find_registry(models, spec.name, version), version


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify, Regress and MultiInference answer UNIMPLEMENTED."""

    def __init__(self, models: Mapping[str, ModelRegistry]):
        self._models = models

    @_rpc
    def Predict(self, request):
        registry, version = resolve_spec(self._models, request.model_spec, request.HasField("model_spec"))
        servable = registry.servable(version)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = servable.signature(signature_name)
        _check_input_aliases(signature, request.inputs)
        output_filter = _checked_output_filter(signature, request.output_filter)
        arrays, dtypes = {}, {}
        for alias, proto in request.inputs.items():
            try:
                arrays[alias] = tensors.from_proto(proto)
                dtypes[alias] = tensors.dtype_of_enum(proto.dtype)
            except Exception as error:  # noqa: BLE001 - any undecodable proto is the client's error.
                raise invalid(f"tensor parsing error: {alias} ({error})") from error
        signature.check_dtypes(dtypes)
        outputs = signature.run(arrays, output_filter)
        response = predict_pb2.PredictResponse()
        for alias, array in outputs.items():
            response.outputs[alias].CopyFrom(tensors.to_proto(array, signature.outputs[alias].dtype))
        _echo_spec(response.model_spec, registry.name, servable.version, signature_name)
        return response

    @_rpc
    def GetModelMetadata(self, request):
        registry, version = resolve_spec(self._models, request.model_spec, request.HasField("model_spec"))
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid(f"Metadata field {field} is not supported")
        servable = registry.servable(version)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _echo_spec(response.model_spec, registry.name, servable.version)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(servable.signature_def_map())
        return response

    @_rpc
    def Classify(self, request):
        raise _unimplemented("Classify")

    @_rpc
    def Regress(self, request):
        raise _unimplemented("Regress")

    @_rpc
    def MultiInference(self, request):
        raise _unimplemented("MultiInference")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest answers UNIMPLEMENTED."""

    def __init__(self, models: Mapping[str, ModelRegistry]):
        self._models = models

    @_rpc
    def GetModelStatus(self, request):
        return model_status(self._models, request.model_spec, request.HasField("model_spec"))

    @_rpc
    def HandleReloadConfigRequest(self, request):
        raise _unimplemented("HandleReloadConfigRequest")


def model_status(models: Mapping[str, ModelRegistry], spec, has_spec: bool = True):
    """Builds a GetModelStatusResponse (shared with the REST front)."""
    if not has_spec:
        raise invalid("Missing ModelSpec")
    if not spec.name:
        raise invalid("ModelSpec has no name specified.")
    if spec.name not in models:
        raise not_found(f"Could not find any versions of model {spec.name}")
    version = spec.version.value if spec.HasField("version") else None
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in models[spec.name].statuses(version):
        entry = response.model_version_status.add(version=status.version, state=status.state)
        entry.status.error_code = status.error_code.value[0]
        entry.status.error_message = status.error_message
    return response


def _check_input_aliases(signature: Signature, inputs: Mapping) -> None:
    """TF Serving's VerifyRequestInputsSize, then the alias check, with its exact wording."""
    sent, expected = set(inputs), set(signature.inputs)
    if len(sent) != len(expected):
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({_set_str(sent)}) != len({_set_str(expected)}). Sent extra: {_set_str(sent - expected)}. "
            f"Missing but required: {_set_str(expected - sent)}."
        )
    for alias in sorted(sent - expected):
        raise invalid(
            f"input tensor alias not found in signature: {alias}. "
            f"Inputs expected to be in the set {_set_str(expected)}."
        )


def _checked_output_filter(signature: Signature, output_filter) -> list[str]:
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} "
                f"Outputs expected to be in the set {_set_str(signature.outputs)}."
            )
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter)


def _echo_spec(spec, name: str, version: int, signature_name: str = "") -> None:
    spec.name = name
    spec.version.value = version
    spec.signature_name = signature_name


def _set_str(names) -> str:
    return "{" + ",".join(sorted(names)) + "}"


def _unimplemented(method: str) -> ServingError:
    return ServingError(
        grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by the msrec local server"
    )
