"""The new flags parse as TF Serving's do (bare booleans, =true/=false, key=value channel arguments)."""

from __future__ import annotations

import pytest

from modelserver.server.config_protos import ConfigError
from modelserver.server.options import ServerConfig, channel_arguments, parse_args, resolve


def test_tf_serving_flags_and_defaults():
    config = parse_args(["--model_config_file=/m.config"])
    assert config.model_config_file == "/m.config" and config.model_config_file_poll_wait_seconds == 0
    assert not config.enable_batching and config.enable_model_warmup
    assert config.rest_api_timeout_in_ms == 30000 and config.num_request_iterations_for_warmup == 1
    config = parse_args(
        ["--model_base_path=/m", "--enable_batching", "--enable_model_warmup=false", "--grpc_max_threads=4",
         "--allow_version_labels_for_unavailable_models=true", "--model_config_file_poll_wait_seconds=60"]
    )  # fmt: skip
    assert config.enable_batching and not config.enable_model_warmup and config.grpc_workers == 4
    assert config.allow_version_labels_for_unavailable_models
    assert config.model_config_file_poll_wait_seconds == 60


def test_a_model_source_is_required(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--port=9000"])
    assert "--model_base_path or --model_config_file" in capsys.readouterr().err


def test_grpc_channel_arguments_are_key_value_pairs():
    assert channel_arguments("grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb") == (
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.lb_policy_name", "grpclb"),
    )  # testGoodGrpcChannelArgs
    assert channel_arguments("") == ()
    with pytest.raises(ConfigError, match="key=value"):
        channel_arguments("grpc.max_connection_age_ms")


def test_tls_flags_need_both_files(tmp_path):
    with pytest.raises(ConfigError, match="go together"):
        resolve(ServerConfig(model_base_path="/m", grpc_ssl_cert=str(tmp_path / "cert.pem")))
    with pytest.raises(ConfigError, match="Cannot read"):
        resolve(ServerConfig(model_base_path="/m", grpc_ssl_cert="/nope.pem", grpc_ssl_key="/nope.key"))
    assert resolve(ServerConfig(model_base_path="/m")).credentials is None
