"""The gRPC front: ``tensorflow.serving.PredictionService`` and ``ModelService`` on the official stubs.

Request validation follows TF Serving's order and wording (``predict_impl.cc``, ``predict_util.cc``,
``get_model_metadata_impl.cc``, ``get_model_status_impl.cc``) so that clients and tests written against
the stand-in behave the same against production. Every handler turns failures into a status; a bad
request never escapes as an exception.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from modelserver.server.messages import clip
from modelserver.server.predict import Executor, echo_spec, predict
from modelserver.server.registry import ModelRegistry, find_registry
from modelserver.status import ServingError, invalid, not_found, truncate

log = logging.getLogger("modelserver")

SIGNATURE_DEF_FIELD = "signature_def"


def _rpc(api: str = ""):
    """Turns ServingError into its status and any other exception into INTERNAL; with ``api``, also
    counts the request and samples its latency (TF Serving's request_count and request_latency)."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(self, request, context):
            start, code = time.perf_counter(), grpc.StatusCode.OK
            try:
                return handler(self, request, context)
            except ServingError as error:
                code = error.code
                context.abort(error.code, truncate(error.message))
            except Exception as error:  # noqa: BLE001 - report, never crash the server.
                code = grpc.StatusCode.INTERNAL
                log.exception("modelserver: %s failed", handler.__name__)
                context.abort(code, truncate(f"{type(error).__name__}: {error}"))
            finally:
                if api:
                    name = request.model_spec.name if request.model_spec.name in self._models else ""
                    micros = (time.perf_counter() - start) * 1e6
                    self._executor.metrics.record_request(name, api, "GRPC", code, micros)

        return wrapper

    return decorate


def resolve_spec(models: Mapping[str, ModelRegistry], spec, has_spec: bool = True):
    """Checks a ModelSpec and returns (registry, requested version or None), resolving a label."""
    if not has_spec:
        raise invalid("Missing ModelSpec")
    if not spec.name:
        raise invalid("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    registry = find_registry(models, spec.name, version)
    if choice == "version_label":
        version = registry.version_for_label(spec.version_label)
    return registry, version


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify, Regress and MultiInference answer UNIMPLEMENTED.

    Args:
        models: model name -> registry (a live mapping: config reloads change it).
        executor: runs signatures (batched or not) and holds the metrics.
        max_tensor_bytes: largest decoded input tensor accepted.
        max_rows: largest batch dimension of a Predict request (``--max_request_rows``).
    """

    def __init__(
        self,
        models: Mapping[str, ModelRegistry],
        executor: Executor,
        max_tensor_bytes: int,
        max_rows: int | None = None,
    ):
        self._models = models
        self._executor = executor
        self._max_tensor_bytes = max_tensor_bytes
        self._max_rows = max_rows

    @_rpc("Predict")
    def Predict(self, request, context):
        registry, version = resolve_spec(self._models, request.model_spec, request.HasField("model_spec"))
        servable = registry.servable(version)
        return predict(
            servable,
            request,
            self._executor,
            registry.name,
            timeout=context.time_remaining(),
            max_tensor_bytes=self._max_tensor_bytes,
            max_rows=self._max_rows,
        )

    @_rpc()
    def GetModelMetadata(self, request, context):
        registry, version = resolve_spec(self._models, request.model_spec, request.HasField("model_spec"))
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid(f"Metadata field {clip(field)} is not supported")
        servable = registry.servable(version)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        echo_spec(response.model_spec, registry.name, servable.version)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(servable.signature_def_map())
        return response

    @_rpc("Classify")
    def Classify(self, request, context):
        raise _unimplemented("Classify")

    @_rpc("Regress")
    def Regress(self, request, context):
        raise _unimplemented("Regress")

    @_rpc()
    def MultiInference(self, request, context):
        raise _unimplemented("MultiInference")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus, and HandleReloadConfigRequest when the server manages its models by config.

    Args:
        models: model name -> registry.
        reload: applies a config from a request (and checks its base paths); None when the server was
            not started with ``--model_config_file``, which makes reload requests FAILED_PRECONDITION.
    """

    def __init__(self, models: Mapping[str, ModelRegistry], reload: Callable | None = None):
        self._models = models
        self._reload = reload

    @_rpc()
    def GetModelStatus(self, request, context):
        return model_status(self._models, request.model_spec, request.HasField("model_spec"))

    @_rpc()
    def HandleReloadConfigRequest(self, request, context):
        if self._reload is None:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "HandleReloadConfigRequest is refused: this server was not started with "
                "--model_config_file, so its models cannot be changed by request",
            )
        self._reload(request.config)  # raises ServingError: TF Serving returns it as the RPC status too
        return model_management_pb2.ReloadConfigResponse()


def model_status(models: Mapping[str, ModelRegistry], spec, has_spec: bool = True):
    """Builds a GetModelStatusResponse (shared with the REST front)."""
    if not has_spec:
        raise invalid("Missing ModelSpec")
    if not spec.name:
        raise invalid("ModelSpec has no name specified.")
    if spec.name not in models:
        raise not_found(f"Could not find any versions of model {clip(spec.name)}")
    version = spec.version.value if spec.HasField("version") else None
    if spec.WhichOneof("version_choice") == "version_label":
        version = models[spec.name].version_for_label(spec.version_label)
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in models[spec.name].statuses(version):
        entry = response.model_version_status.add(version=status.version, state=status.state)
        entry.status.error_code = status.error_code.value[0]
        entry.status.error_message = status.error_message
    return response


def _unimplemented(method: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by modelserver")
