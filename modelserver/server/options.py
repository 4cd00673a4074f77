"""The server's flags (TF Serving's names and defaults) and the options they resolve to.

``ServerConfig`` is the flags as given; ``resolve`` reads the files they name (batching parameters,
monitoring config, TLS material) into a ``ServerOptions`` that ``ModelServer`` takes. The model config
file is read by the server itself, because it is also re-read while serving. Flags that TF Serving does
not have are marked "modelserver" in their help.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import TYPE_CHECKING

import grpc

from modelserver.server.config_protos import ConfigError, read_text
from modelserver.server.metrics import DEFAULT_PATH

if TYPE_CHECKING:  # the batching module loads TensorFlow (servables): `--help` must not wait for it
    from modelserver.server.batching import BatchingOptions

DEFAULT_MAX_REQUEST_BYTES = 32 * 2**20
DEFAULT_MAX_REQUEST_ROWS = 1024
DEFAULT_MAX_EXECUTION_ROWS = 16


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """The server's flags, named as TF Serving names them."""

    model_name: str = "default"
    model_base_path: str = ""
    port: int = 8500
    rest_api_port: int = 0
    host: str = "127.0.0.1"
    file_system_poll_wait_seconds: float = 1.0
    grpc_workers: int = 32
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: float = 0.0
    allow_version_labels_for_unavailable_models: bool = False
    enable_batching: bool = False
    batching_parameters_file: str = ""
    monitoring_config_file: str = ""
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    ssl_config_file: str = ""
    grpc_ssl_cert: str = ""
    grpc_ssl_key: str = ""
    grpc_channel_arguments: str = ""
    rest_api_timeout_in_ms: int = 30000
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_concurrent_requests: int = 128
    max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS
    max_execution_rows: int = DEFAULT_MAX_EXECUTION_ROWS
    strict_load: bool = False
    allowed_reload_base_paths: str = ""


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything ``ModelServer`` needs beyond model name, base path, ports and host.

    Attributes:
        model_config_file: a ``ModelServerConfig`` text proto; replaces name and base path when set.
        model_config_poll_seconds: how often to re-read it (0: read once).
        allow_unavailable_labels: let labels name versions that are not loaded.
        batching: batch scheduler options, or None for no batching.
        monitoring_path: REST path of the Prometheus endpoint, or None for no endpoint.
        warmup: replay ``assets.extra/tf_serving_warmup_requests`` when loading a version.
        warmup_iterations: how many times to replay each warm-up record.
        credentials: TLS for the gRPC port, or None for plaintext.
        grpc_arguments: extra gRPC server channel arguments (they win over the defaults).
        max_request_bytes: largest gRPC message / REST body accepted.
        max_concurrent_requests: requests in flight per front before new ones are shed.
        rest_timeout_seconds: REST socket read timeout and the longest a REST request waits in a batch.
        max_request_rows: largest batch dimension (dim 0) of a Predict request.
        max_execution_rows: unbatched requests with more rows run in slices of this many rows.
        strict_load: refuse to start unless every aspired version loads (no falling back to an older
            version when the newest is broken).
        reload_roots: directories, besides those the model config file names, under which
            HandleReloadConfigRequest may point a model.
    """

    model_config_file: str = ""
    model_config_poll_seconds: float = 0.0
    allow_unavailable_labels: bool = False
    batching: BatchingOptions | None = None
    monitoring_path: str | None = None
    warmup: bool = True
    warmup_iterations: int = 1
    credentials: grpc.ServerCredentials | None = None
    grpc_arguments: tuple[tuple[str, object], ...] = ()
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_concurrent_requests: int = 128
    rest_timeout_seconds: float = 30.0
    max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS
    max_execution_rows: int = DEFAULT_MAX_EXECUTION_ROWS
    strict_load: bool = False
    reload_roots: tuple[str, ...] = ()


def resolve(config: ServerConfig) -> ServerOptions:
    """Reads the files the flags name.

    Raises:
        ConfigError: for a file TF Serving would refuse, or flags that do not go together.
    """
    for flag, value in (
        ("max_request_rows", config.max_request_rows),
        ("max_execution_rows", config.max_execution_rows),
    ):
        if value < 1:
            raise ConfigError(f"--{flag} must be at least 1, got {value}")
    roots = tuple(os.path.abspath(p) for p in filter(None, config.allowed_reload_base_paths.split(",")))
    if roots and not config.model_config_file:
        raise ConfigError("--allowed_reload_base_paths requires --model_config_file")
    monitoring_path = None
    if config.monitoring_config_file:
        prometheus = read_text(config.monitoring_config_file, "MonitoringConfig").prometheus_config
        if prometheus.enable:
            if not config.rest_api_port:
                raise ConfigError("Prometheus monitoring requires --rest_api_port")
            monitoring_path = prometheus.path or DEFAULT_PATH
    return ServerOptions(
        model_config_file=config.model_config_file,
        model_config_poll_seconds=config.model_config_file_poll_wait_seconds,
        allow_unavailable_labels=config.allow_version_labels_for_unavailable_models,
        batching=batching_options(config),
        monitoring_path=monitoring_path,
        warmup=config.enable_model_warmup,
        warmup_iterations=config.num_request_iterations_for_warmup,
        credentials=grpc_credentials(config),
        grpc_arguments=channel_arguments(config.grpc_channel_arguments),
        max_request_bytes=config.max_request_bytes,
        max_concurrent_requests=config.max_concurrent_requests,
        rest_timeout_seconds=config.rest_api_timeout_in_ms / 1000,
        max_request_rows=config.max_request_rows,
        max_execution_rows=config.max_execution_rows,
        strict_load=config.strict_load,
        reload_roots=roots,
    )


def batching_options(config: ServerConfig) -> BatchingOptions | None:
    from modelserver.server.batching import BatchingOptions

    """``--enable_batching`` with ``--batching_parameters_file``'s values; None without batching."""
    if config.batching_parameters_file and not config.enable_batching:
        raise ConfigError("--batching_parameters_file requires --enable_batching")
    if not config.enable_batching:
        return None
    if not config.batching_parameters_file:
        return BatchingOptions()
    params = read_text(config.batching_parameters_file, "BatchingParameters")
    try:
        return BatchingOptions.from_proto(params)
    except ValueError as error:
        raise ConfigError(f"Invalid batching parameters: {error}") from error


def grpc_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS from TF Serving's ``--ssl_config_file`` (PEM text inside) or this server's cert/key file flags."""
    if config.ssl_config_file:
        ssl = read_text(config.ssl_config_file, "SSLConfig")
        key, cert = ssl.server_key.encode(), ssl.server_cert.encode()
        ca, verify = ssl.custom_ca.encode() or None, ssl.client_verify
    elif config.grpc_ssl_cert or config.grpc_ssl_key:
        if not (config.grpc_ssl_cert and config.grpc_ssl_key):
            raise ConfigError("--grpc_ssl_cert and --grpc_ssl_key go together")
        try:
            with open(config.grpc_ssl_key, "rb") as k, open(config.grpc_ssl_cert, "rb") as c:
                key, cert = k.read(), c.read()
        except OSError as error:
            raise ConfigError(f"Cannot read TLS key or certificate: {error}") from error
        ca, verify = None, False
    else:
        return None
    if not key or not cert:
        raise ConfigError("TLS needs both a server key and a server certificate")
    if verify and not ca:
        raise ConfigError("client_verify needs custom_ca")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=verify)


def channel_arguments(text: str) -> tuple[tuple[str, object], ...]:
    """TF Serving's ``--grpc_channel_arguments``: "key=value,key=value"; integer values become ints."""
    arguments = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"Invalid --grpc_channel_arguments entry: {item!r} (expected key=value)")
        arguments.append((key, int(value) if value.lstrip("-").isdigit() else value))
    return tuple(arguments)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser(description: str = "", prog: str = "python -m modelserver") -> argparse.ArgumentParser:
    """The flags: TF Serving's names and defaults, and this server's own (help marked "modelserver")."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add, flag = parser.add_argument, lambda name, **kw: parser.add_argument(
        name, type=_bool, nargs="?", const=True, **kw
    )  # fmt: skip
    add("--port", type=int, default=8500, help="gRPC port (0 picks a free one)")
    add("--rest_api_port", type=int, default=0, help="REST port; 0 disables REST")
    add("--model_name", default="default")
    add("--model_base_path", default="", help="directory of integer version directories")
    add("--model_config_file", default="", help="ModelServerConfig text proto; replaces the two above")
    add("--model_config_file_poll_wait_seconds", type=float, default=0.0, help="0 reads the file once")
    flag("--allow_version_labels_for_unavailable_models", default=False)
    add("--file_system_poll_wait_seconds", type=float, default=1.0, help="0 looks for versions once")
    add("--host", default="127.0.0.1", help="modelserver: interface to bind (TF Serving binds 0.0.0.0)")
    flag("--enable_batching", default=False)
    add("--batching_parameters_file", default="", help="BatchingParameters text proto")
    add("--monitoring_config_file", default="", help="MonitoringConfig text proto (Prometheus)")
    flag("--enable_model_warmup", default=True)
    add("--num_request_iterations_for_warmup", type=int, default=1)
    add("--ssl_config_file", default="", help="SSLConfig text proto (PEM text in server_key/server_cert)")
    add("--grpc_ssl_cert", default="", help="modelserver: PEM certificate file for gRPC TLS")
    add("--grpc_ssl_key", default="", help="modelserver: PEM private key file for gRPC TLS")
    add("--grpc_channel_arguments", default="", help="key=value,... gRPC server arguments")
    add("--grpc_max_threads", type=int, default=32, help="threads answering gRPC calls")
    add("--rest_api_timeout_in_ms", type=int, default=30000)
    add("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES, help="modelserver: larger -> 413")
    add("--max_concurrent_requests", type=int, default=128, help="modelserver: per front; more are shed")
    add(
        "--max_request_rows",
        type=int,
        default=DEFAULT_MAX_REQUEST_ROWS,
        help="modelserver: larger dim 0 -> 400",
    )
    add(
        "--max_execution_rows",
        type=int,
        default=DEFAULT_MAX_EXECUTION_ROWS,
        help="modelserver: run in slices",
    )
    flag(
        "--strict_load",
        default=False,
        help="modelserver: refuse to start if an aspired version fails to load",
    )
    add(
        "--allowed_reload_base_paths",
        default="",
        help="modelserver: DIR,... HandleReloadConfigRequest may use",
    )
    return parser


def parse_args(argv: list[str], description: str = "", prog: str = "python -m modelserver") -> ServerConfig:
    """Parses ``argv`` into a ``ServerConfig``; a bad flag or combination exits 2 with argparse's message."""
    flags = build_parser(description, prog)
    args = flags.parse_args(argv)
    if args.rest_api_port and args.rest_api_port == args.port:
        flags.error("--rest_api_port must differ from --port")
    if not args.model_base_path and not args.model_config_file:
        flags.error("one of --model_base_path or --model_config_file is required")
    values = vars(args)
    values["grpc_workers"] = values.pop("grpc_max_threads")
    return ServerConfig(**values)
