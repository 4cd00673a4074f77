"""The local model server: TF Serving's gRPC and REST protocol over any SavedModel.

Production serves SavedModels with the real ``tensorflow_model_server``; this stand-in speaks the
same protocol (same services, flags, version policies and labels, batching, warm-up, metrics, status
codes and JSON) so development, tests and the demo need no binary. It is generic: it serves whatever
signatures the SavedModel has.

    python -m modelserver --model_name=NAME --model_base_path=/abs/models/NAME \\
        --port=8500 --rest_api_port=8501

Pieces, leaves first: ``servable`` (one loaded version), ``registry`` (the versions of one model),
``manager`` (the models of a ``ModelServerConfig``), ``predict`` and ``batching`` (running requests),
``warmup``, ``metrics``, then the fronts ``grpc_service`` and ``rest`` + ``http_server``; ``options``
holds the flags.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from modelserver.server import memory
from modelserver.server import warmup_replay as warmup
from modelserver.server.batching import BatchScheduler
from modelserver.server.config_protos import ConfigError, read_text
from modelserver.server.grpc_service import ModelService, PredictionService
from modelserver.server.http_server import make_http_server
from modelserver.server.manager import ModelManager, single_model_config
from modelserver.server.metrics import ServingMetrics
from modelserver.server.options import ServerConfig, ServerOptions, parse_args, resolve
from modelserver.server.predict import Executor
from modelserver.server.registry import ModelRegistry
from modelserver.server.rest import RestApi
from modelserver.server.servable import Servable
from modelserver.status import ServingError

__all__ = ["ModelServer", "ServerConfig", "ServerOptions", "main", "parse_args", "run"]

log = logging.getLogger("modelserver")

_INT32_MAX = 2**31 - 1


class ModelServer:
    """Serves models over gRPC and, when ``rest_api_port`` is non-zero, REST.

    Args:
        model_name: the name requests must use (ignored with ``options.model_config_file``).
        model_base_path: directory of integer-named version directories (likewise).
        port: gRPC port; 0 picks a free one (read ``self.port`` after ``start``).
        rest_api_port: REST port; 0 disables REST, as in TF Serving.
        host: interface to bind ("0.0.0.0" for all, which is what TF Serving does).
        poll_seconds: how often to look for new versions; 0 looks only once, at start.
        grpc_workers: threads answering gRPC calls (with batching, each waiting request holds one).
        options: batching, monitoring, warm-up, TLS, limits and the model config file.
    """

    def __init__(
        self,
        model_name: str = "default",
        model_base_path: str = "",
        port: int = 8500,
        rest_api_port: int = 0,
        host: str = "127.0.0.1",
        poll_seconds: float = 1.0,
        grpc_workers: int = 32,
        options: ServerOptions | None = None,
    ):
        self.model_name = model_name
        self.model_base_path = os.path.abspath(model_base_path) if model_base_path else ""
        self.port = port
        self.rest_api_port = rest_api_port
        self.host = host
        self.options = options = options or ServerOptions()
        self.metrics = ServingMetrics()
        self._warmup_executor = Executor(self.metrics)
        self.manager = ModelManager(
            self._loader,
            poll_seconds,
            options.allow_unavailable_labels,
            strict=options.strict_load,
            reload_roots=options.reload_roots,
        )
        self._grpc_workers = grpc_workers
        self._scheduler: BatchScheduler | None = None
        self._trimmer: memory.MemoryTrimmer | None = None
        self._grpc: grpc.Server | None = None
        self._http = None
        self._stopped = threading.Event()

    @property
    def registry(self) -> ModelRegistry:
        """The first model's registry (the only one without a model config file)."""
        return next(iter(self.manager.models.values()))

    def start(self) -> None:
        """Loads every model's aspired versions, then opens the ports. Returns once requests can be served.

        Raises:
            RuntimeError: if a model has no loadable version, a config file is invalid, or a port could
                not be bound.
        """
        try:
            if self.options.model_config_file:
                config = read_text(self.options.model_config_file, "ModelServerConfig")
            else:
                config = single_model_config(self.model_name, self.model_base_path)
            try:
                self.manager.apply(config, initial=True)
            except ServingError as error:
                raise RuntimeError(error.message) from error
            if self.options.model_config_file:
                self.manager.watch(self.options.model_config_file, self.options.model_config_poll_seconds)
            if self.options.batching is not None:
                self._scheduler = BatchScheduler(self.options.batching, self.metrics)
            self._trimmer = memory.MemoryTrimmer(memory.glibc_malloc_trim())
            executor = Executor(self.metrics, self._scheduler, self._trimmer, self.options.max_execution_rows)
            self._start_grpc(executor)
            if self.rest_api_port:
                self._start_rest(executor)
        except ConfigError as error:
            self.stop(grace=0)
            raise RuntimeError(str(error)) from error
        except Exception:
            self.stop(grace=0)
            raise

    def stop(self, grace: float | None = 5.0) -> None:
        """Stops accepting requests, lets in-flight ones finish (up to ``grace`` s for gRPC), unloads."""
        if self._stopped.is_set():
            return
        done = self._grpc.stop(grace) if self._grpc is not None else None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()  # joins the threads of in-flight requests
        if done is not None:
            done.wait()
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._trimmer is not None:
            self._trimmer.stop()
        self.manager.stop()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until ``stop`` has finished (or ``timeout`` s passed); returns whether it has."""
        return self._stopped.wait(timeout)

    def _loader(self, model_name: str):
        return functools.partial(self._load, model_name)

    def _load(self, model_name: str, version: int, path: str) -> Servable:
        servable = Servable.load(version, path)
        if self.options.warmup:
            try:
                records, seconds = warmup.replay(
                    servable, model_name, self._warmup_executor, self.options.warmup_iterations
                )
            except ServingError as error:
                self.metrics.warmup_latency.observe(0, path, error.code.name)
                raise
            if records:
                self.metrics.warmup_latency.observe(seconds * 1e6, path, "OK")
                log.info("modelserver: replayed %d warm-up records for %s version %d in %.2f s",
                         records, model_name, version, seconds)  # fmt: skip
        return servable

    def _reload(self, config) -> None:
        """A config sent by HandleReloadConfigRequest: its base paths must be under the reload roots."""
        self.manager.apply(config, trusted=False)

    def _start_grpc(self, executor) -> None:
        arguments = {
            "grpc.max_send_message_length": _INT32_MAX,  # TF Serving's SetMaxMessageSize
            "grpc.max_receive_message_length": self.options.max_request_bytes,
            "grpc.so_reuseport": 0,  # a taken port must fail, not be shared with another server
            **dict(self.options.grpc_arguments),
        }
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._grpc_workers),
            options=list(arguments.items()),
            maximum_concurrent_rpcs=self.options.max_concurrent_requests,  # beyond: RESOURCE_EXHAUSTED
        )
        models = self.manager.models
        options = self.options
        prediction = PredictionService(models, executor, options.max_request_bytes, options.max_request_rows)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)
        model_service = ModelService(models, self._reload if options.model_config_file else None)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(model_service, server)
        address = f"{self.host}:{self.port}"
        try:
            if self.options.credentials is not None:
                bound = server.add_secure_port(address, self.options.credentials)
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError as error:
            raise RuntimeError(f"Failed to bind gRPC server to {address}: {error}") from error
        if not bound:
            raise RuntimeError(f"Failed to bind gRPC server to {address}")
        server.start()
        self._grpc, self.port = server, bound
        tls = " (TLS)" if self.options.credentials is not None else ""
        log.info("modelserver: running gRPC ModelServer at %s:%d%s", self.host, self.port, tls)

    def _start_rest(self, executor) -> None:
        options = self.options
        api = RestApi(self.manager.models, executor, options.rest_timeout_seconds, options.max_request_rows)
        http = make_http_server(
            api,
            self.metrics,
            self.host,
            self.rest_api_port,
            monitoring_path=options.monitoring_path,
            max_request_bytes=options.max_request_bytes,
            max_concurrent_requests=options.max_concurrent_requests,
            timeout=options.rest_timeout_seconds,
        )
        threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.2}, name="rest", daemon=True
        ).start()
        self._http, self.rest_api_port = http, http.server_address[1]
        log.info("modelserver: exporting HTTP/REST API at %s:%d", self.host, self.rest_api_port)
        if options.monitoring_path:
            log.info("modelserver: Prometheus metrics at %s", options.monitoring_path)


def run(config: ServerConfig, stop: threading.Event) -> None:
    """Serves ``config`` until ``stop`` is set, then stops gracefully.

    Raises:
        RuntimeError: the server could not start (its message says why).
    """
    try:
        options = resolve(config)
    except ConfigError as error:
        raise RuntimeError(str(error)) from error
    server = ModelServer(
        config.model_name,
        config.model_base_path,
        port=config.port,
        rest_api_port=config.rest_api_port,
        host=config.host,
        poll_seconds=config.file_system_poll_wait_seconds,
        grpc_workers=config.grpc_workers,
        options=options,
    )
    server.start()
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    log.info("modelserver: shutting down")
    server.stop()


def main(argv: list[str] | None = None, prog: str = "python -m modelserver") -> int:
    """Entry point: parses TF Serving's flags, serves until SIGTERM/SIGINT, exits 0 after a clean stop.

    ``prog``: the command's name in usage lines (``msrec serve`` when msrec runs it).
    """
    config = parse_args(sys.argv[1:] if argv is None else argv, __doc__.split("\n")[0], prog)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run(config, stop)
    except RuntimeError as error:
        log.error("modelserver: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
