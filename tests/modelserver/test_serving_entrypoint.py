"""The real entry point, as TF Serving's own tests drive their binary: subprocess, free ports, poll, stop."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys

import serving
from modelserver.client import GrpcClient, RestClient
from modelserver.server.main import ServerConfig, parse_args
from tests.modelserver.tiny_model import MODEL_NAME, pick_unused_port, request_inputs

REPO_ROOT = pathlib.Path(serving.__file__).resolve().parents[1]


def test_flags_have_tf_serving_names_and_defaults():
    assert parse_args(["--model_base_path=/models/x"]) == ServerConfig(
        model_name="default",
        model_base_path="/models/x",
        port=8500,
        rest_api_port=0,
        host="127.0.0.1",
        file_system_poll_wait_seconds=1.0,
    )


def test_server_process_serves_until_sigterm_then_exits_cleanly(model_base):
    port, rest_port = pick_unused_port(), pick_unused_port()
    command = [
        sys.executable, "-m", "modelserver",
        f"--port={port}", f"--rest_api_port={rest_port}", f"--model_name={MODEL_NAME}",
        f"--model_base_path={model_base}", "--file_system_poll_wait_seconds=0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        with GrpcClient(f"127.0.0.1:{port}", MODEL_NAME) as client:
            client.wait_until_ready(timeout=60)
            assert client.predict(request_inputs())["scores"].shape == (2, 2)
        RestClient(f"127.0.0.1:{rest_port}", MODEL_NAME).wait_until_ready(timeout=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"modelserver: loaded model {MODEL_NAME} version 1 from {model_base}/1" in stderr
    assert f"modelserver: unloaded model {MODEL_NAME} version 1" in stderr
