"""msrec's local model server: TF Serving's gRPC and REST protocol over any SavedModel.

Production serves msrec's exports with the real ``tensorflow_model_server``; this stand-in speaks the
same protocol (same services, flags, version handling, status codes and JSON) so development, tests and
the demo need no binary. It is generic: it serves whatever signatures the SavedModel has.

    python -m serving.server --model_name=msrec --model_base_path=/abs/models/msrec \\
        --port=8500 --rest_api_port=8501

Pieces: ``registry`` (versions under the base path, polling, hot swap), ``servable`` (one loaded
version), ``grpc_service`` and ``rest`` (the two fronts), ``json_tensor`` and ``tensors`` (encodings).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.grpc_service import ModelService, PredictionService
from serving.registry import ModelRegistry
from serving.rest import make_http_server

log = logging.getLogger("msrec.serving")

_INT32_MAX = 2**31 - 1
_GRPC_OPTIONS = [
    ("grpc.max_send_message_length", _INT32_MAX),  # TF Serving's SetMaxMessageSize
    ("grpc.max_receive_message_length", _INT32_MAX),
    ("grpc.so_reuseport", 0),  # a taken port must fail, not be shared with another server
]


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """The server's flags, named as TF Serving names them."""

    model_name: str = "default"
    model_base_path: str = ""
    port: int = 8500
    rest_api_port: int = 0
    host: str = "127.0.0.1"
    file_system_poll_wait_seconds: float = 1.0
    grpc_workers: int = 8


class ModelServer:
    """Serves one model's latest version over gRPC and, when ``rest_api_port`` is non-zero, REST.

    Args:
        model_name: the name requests must use.
        model_base_path: directory of integer-named version directories.
        port: gRPC port; 0 picks a free one (read ``self.port`` after ``start``).
        rest_api_port: REST port; 0 disables REST, as in TF Serving.
        host: interface to bind ("0.0.0.0" for all, which is what TF Serving does).
        poll_seconds: how often to look for new versions; 0 looks only once, at start.
        grpc_workers: threads answering gRPC calls.
    """

    def __init__(
        self,
        model_name: str,
        model_base_path: str,
        port: int = 8500,
        rest_api_port: int = 0,
        host: str = "127.0.0.1",
        poll_seconds: float = 1.0,
        grpc_workers: int = 8,
    ):
        self.model_name = model_name
        self.model_base_path = os.path.abspath(model_base_path)
        self.port = port
        self.rest_api_port = rest_api_port
        self.host = host
        self.registry = ModelRegistry(model_name, self.model_base_path, poll_seconds)
        self._models = {model_name: self.registry}
        self._grpc_workers = grpc_workers
        self._grpc: grpc.Server | None = None
        self._http = None
        self._http_thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Loads the latest version, then opens the ports. Returns once requests can be served.

        Raises:
            RuntimeError: if no version could be loaded or a port could not be bound.
        """
        self.registry.start()
        try:
            self._start_grpc()
            if self.rest_api_port:
                self._start_rest()
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
        self.registry.stop()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until ``stop`` has finished (or ``timeout`` s passed); returns whether it has."""
        return self._stopped.wait(timeout)

    def _start_grpc(self) -> None:
        executor = futures.ThreadPoolExecutor(max_workers=self._grpc_workers)
        server = grpc.server(executor, options=_GRPC_OPTIONS)
        prediction = PredictionService(self._models)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(self._models), server)
        address = f"{self.host}:{self.port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as error:
            raise RuntimeError(f"Failed to bind gRPC server to {address}: {error}") from error
        if not bound:
            raise RuntimeError(f"Failed to bind gRPC server to {address}")
        server.start()
        self._grpc, self.port = server, bound
        log.info("msrec serve: running gRPC ModelServer at %s:%d", self.host, self.port)

    def _start_rest(self) -> None:
        http = make_http_server(self._models, self.host, self.rest_api_port)
        self._http_thread = threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.2}, name="rest", daemon=True
        )
        self._http_thread.start()
        self._http, self.rest_api_port = http, http.server_address[1]
        log.info("msrec serve: exporting HTTP/REST API at %s:%d", self.host, self.rest_api_port)


def run(config: ServerConfig, stop: threading.Event) -> None:
    """Serves ``config`` until ``stop`` is set, then stops gracefully."""
    server = ModelServer(
        config.model_name,
        config.model_base_path,
        port=config.port,
        rest_api_port=config.rest_api_port,
        host=config.host,
        poll_seconds=config.file_system_poll_wait_seconds,
        grpc_workers=config.grpc_workers,
    )
    server.start()
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    log.info("msrec serve: shutting down")
    server.stop()


def parse_args(argv: list[str]) -> ServerConfig:
    parser = argparse.ArgumentParser(prog="python -m serving.server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0 picks a free one)")
    parser.add_argument("--rest_api_port", type=int, default=0, help="REST port; 0 disables REST")
    parser.add_argument("--model_name", default="default")
    parser.add_argument("--model_base_path", required=True, help="directory of integer version directories")
    parser.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between looks for new versions; 0 looks once",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (TF Serving binds 0.0.0.0)")
    args = parser.parse_args(argv)
    if args.rest_api_port and args.rest_api_port == args.port:
        parser.error("--rest_api_port must differ from --port")
    return ServerConfig(
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        port=args.port,
        rest_api_port=args.rest_api_port,
        host=args.host,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: parses TF Serving's flags, serves until SIGTERM/SIGINT, exits 0 after a clean stop."""
    config = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run(config, stop)
    except RuntimeError as error:
        log.error("msrec serve: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
