"""A fault mid-job: Prism's SDK workers run in an EXTERNAL worker pool, as on a cluster, and the pool is
killed once the job has read its sources. The job fails with a sentence, nothing is marked finished,
and a rerun into the same place is refused until ``--overwrite``, then writes what the DirectRunner
writes (docs/dataflow.md, "Faults")."""

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from bench import engines, outputs

READ = "interactions.csv read"  # a progress line the pool's SDK worker prints when it has read the file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _msrec(*argv: str) -> list[str]:
    return [sys.executable, "-m", "msrec.app.cli", "preprocess", "--dataset", "synthetic", *argv]


def _start_pool(port: int, log: pathlib.Path) -> subprocess.Popen:
    """``worker_pool_main`` in a process group of its own; its workers are spawned as ``python``."""
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"]
    pool = subprocess.Popen(
        command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return pool
        except OSError:
            time.sleep(0.2)
    os.killpg(pool.pid, signal.SIGKILL)
    raise AssertionError(f"the worker pool did not listen on {port}: {log.read_text()}")


def _kill_when(pool: subprocess.Popen, log: pathlib.Path, job: subprocess.Popen, line: str) -> None:
    deadline = time.time() + 180
    while line not in log.read_text() and job.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert job.poll() is None, "the job ended before the worker pool could be killed"
    os.killpg(pool.pid, signal.SIGKILL)  # the pool and every SDK worker it spawned
    pool.wait()


@pytest.mark.slow
def test_a_killed_worker_pool_fails_the_job_and_a_rerun_replaces_it(tiny_raw, tiny_data, tmp_path):
    port, log, out = _free_port(), tmp_path / "pool.log", tmp_path / "out"
    external = [
        *engines.flags("prism")[:3],
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{port}",
    ]
    pool = _start_pool(port, log)
    try:
        argv = _msrec("--input", tiny_raw, "--output", str(out), *external)
        job = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _kill_when(pool, log, job, READ)
        _, err = job.communicate(timeout=240)
    finally:
        if pool.poll() is None:
            os.killpg(pool.pid, signal.SIGKILL)
    assert job.returncode == 2, err
    assert "Traceback (most recent call last)" not in err
    said = " ".join(err[err.index("msrec: the Beam job") :].split())
    assert said.startswith("msrec: the Beam job on PrismRunner ended FAILED: "), err
    assert f"No _SUCCESS was written for {out}" in said and "again with --overwrite" in said
    assert any(out.iterdir()) and not (out / "_SUCCESS").exists()  # partial files, not marked finished

    again = subprocess.run(_msrec("--input", tiny_raw, "--output", str(out)), capture_output=True, text=True)
    assert again.returncode == 2 and not (out / "_SUCCESS").exists()
    assert f"{out} is not empty: it holds no finished run" in " ".join(again.stderr.split())

    loopback = engines.flags("prism")
    rerun = _msrec("--input", tiny_raw, "--output", str(out), "--overwrite", *loopback)
    done = subprocess.run(rerun, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "_SUCCESS").exists() and outputs.compare(tiny_data, str(out)) == []


@pytest.mark.slow
def test_a_job_that_outlives_the_job_server_timeout_ends_in_a_sentence_naming_the_flag(tiny_raw, tmp_path):
    out = tmp_path / "out"
    prism = [flag for flag in engines.flags("prism") if not flag.startswith("--job_server_timeout")]
    argv = _msrec("--input", tiny_raw, "--output", str(out), *prism, "--job_server_timeout=3")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240)  # the tiny job takes > 10 s
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr[done.stderr.index("msrec: the Beam job") :].split())
    assert said.startswith("msrec: the Beam job on PrismRunner ended without a final state: "), said
    assert "the job outlived --job_server_timeout" in said and f"No _SUCCESS was written for {out}" in said
    assert not (out / "_SUCCESS").exists()
