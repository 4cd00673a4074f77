"""TF Serving's text-proto configuration files, parsed with TF Serving's own message definitions.

``--model_config_file`` is a ``tensorflow.serving.ModelServerConfig``, which the
``tensorflow-serving-api`` wheel ships. The wheel does not ship the messages of
``--batching_parameters_file`` (``session_bundle_config.proto``), ``--monitoring_config_file``
(``monitoring_config.proto``) or ``--ssl_config_file`` (``ssl_config.proto``), so when they are not
importable the same messages are declared here, field for field, in a private descriptor pool.
Parsing then goes through ``google.protobuf.text_format`` either way, so a file is accepted or
rejected exactly as TF Serving would accept or reject it (unknown fields, wrong types, ``max_batch_size
{ value: 8 }`` wrapper syntax).
"""

from __future__ import annotations

import functools

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

_PACKAGE = "tensorflow.serving"
_T = descriptor_pb2.FieldDescriptorProto
# message -> (field, number, type, type name or "", repeated); copied from TF Serving's .proto files.
_MESSAGES = {
    "BatchingParameters": [  # servables/tensorflow/session_bundle_config.proto
        ("max_batch_size", 1, _T.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
        ("batch_timeout_micros", 2, _T.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
        ("max_enqueued_batches", 3, _T.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
        ("num_batch_threads", 4, _T.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
        ("thread_pool_name", 5, _T.TYPE_MESSAGE, ".google.protobuf.StringValue", False),
        ("allowed_batch_sizes", 6, _T.TYPE_INT64, "", True),
        ("pad_variable_length_inputs", 7, _T.TYPE_BOOL, "", False),
    ],
    "PrometheusConfig": [  # config/monitoring_config.proto
        ("enable", 1, _T.TYPE_BOOL, "", False),
        ("path", 2, _T.TYPE_STRING, "", False),
    ],
    "MonitoringConfig": [
        ("prometheus_config", 1, _T.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig", False),
    ],
    "SSLConfig": [  # config/ssl_config.proto; the fields hold PEM text, not file names
        ("server_key", 1, _T.TYPE_STRING, "", False),
        ("server_cert", 2, _T.TYPE_STRING, "", False),
        ("custom_ca", 3, _T.TYPE_STRING, "", False),
        ("client_verify", 4, _T.TYPE_BOOL, "", False),
    ],
}
_MODULES = {
    "BatchingParameters": "tensorflow_serving.servables.tensorflow.session_bundle_config_pb2",
    "MonitoringConfig": "tensorflow_serving.config.monitoring_config_pb2",
    "SSLConfig": "tensorflow_serving.config.ssl_config_pb2",
}


class ConfigError(RuntimeError):
    """A configuration file that TF Serving would refuse; the message names the proto as TF Serving does."""


@functools.cache
def _declared_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="modelserver/tf_serving_configs.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field, number, kind, type_name, repeated in fields:
            label = _T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL
            added = message.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name
    pool.Add(file)
    return pool


@functools.cache
def message_class(name: str) -> type:
    """The class of ``tensorflow.serving.<name>``: TF Serving's generated one if importable, else ours."""
    if name == "ModelServerConfig":
        return model_server_config_pb2.ModelServerConfig
    try:
        module = __import__(_MODULES[name], fromlist=[name])
        return getattr(module, name)
    except ImportError:
        return message_factory.GetMessageClass(_declared_pool().FindMessageTypeByName(f"{_PACKAGE}.{name}"))


def parse_text(text: str, name: str):
    """Parses text-format ``tensorflow.serving.<name>``.

    Raises:
        ConfigError: "Error parsing text-format tensorflow.serving.<name>: ..." (TF Serving's wording).
    """
    try:
        return text_format.Parse(text, message_class(name)())
    except text_format.ParseError as error:
        raise ConfigError(f"Error parsing text-format {_PACKAGE}.{name}: {error}") from error


def read_text(path: str, name: str):
    """Reads and parses a text-proto file (see ``parse_text``); an unreadable file is a ConfigError too."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Error reading {_PACKAGE}.{name} file {path}: {error}") from error
    return parse_text(text, name)
