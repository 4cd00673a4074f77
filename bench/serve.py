"""Serving benchmark: latency and throughput of msrec's model server against calling the model in-process.

For each catalog size it builds a retrieval SavedModel shaped like msrec's ``serving_default`` (``user_id``
[B] and ``history_item_ids`` [B,50] strings -> vocabulary lookup, mean of item embeddings plus a user
embedding -> matmul against the [N,64] candidate matrix -> ``top_k`` 100 -> ``item_ids`` [B,100] and
``scores`` [B,100]), starts ``python -m serving.server`` on a free loopback port, and drives gRPC Predict
from a pool of ``concurrency`` threads for ``--seconds``; then it calls the same SavedModel in-process the
same way. It prints a markdown table, writes a latency plot, and replaces the "## Serving" section of
``<output-dir>/benchmarks.md``.

    python bench/serve.py --catalogs 2000,100000,1000000 --concurrency 1,8,32 --seconds 20 --output-dir docs
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import pathlib
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from concurrent import futures

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import serving  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads

# isort: off
import grpc  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402

from serving import tensors  # noqa: E402
from serving.client import GrpcClient  # noqa: E402

# isort: on

HISTORY, TOP_K, DIM, USER_BUCKETS = 50, 100, 64, 1000
MODEL_NAME = "bench"
PREDICT = "/tensorflow.serving.PredictionService/Predict"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    catalogs: tuple[int, ...]
    concurrency: tuple[int, ...]
    seconds: float
    output_dir: str
    server_args: tuple[str, ...]
    command: str


@dataclasses.dataclass
class Result:
    catalog: int
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    throughput: float
    local_p50_ms: float = float("nan")
    local_throughput: float = float("nan")

    def __str__(self) -> str:
        p50, p99 = self.p50_ms, self.p99_ms
        return f"{self.requests} requests, p50 {p50:.2f} ms, p99 {p99:.2f} ms, {self.throughput:.0f}/s"


class Retrieval(tf.Module):
    """A brute-force retrieval model with msrec's query signature and a random [N, 64] catalog."""

    def __init__(self, vocab_path: str, item_ids: list[str], seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        index = tf.lookup.TextFileIndex
        initializer = tf.lookup.TextFileInitializer(
            vocab_path, tf.string, index.WHOLE_LINE, tf.int64, index.LINE_NUMBER
        )
        self.items = tf.lookup.StaticHashTable(initializer, default_value=-1)  # a SavedModel asset
        self.candidates = tf.Variable(rng.standard_normal((len(item_ids), DIM), dtype=np.float32))
        self.users = tf.Variable(rng.standard_normal((USER_BUCKETS, DIM), dtype=np.float32))
        self.catalog = tf.Variable(tf.constant(item_ids))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None, HISTORY], tf.string, name="history_item_ids"),
        ]
    )
    def serve(self, user_id, history_item_ids):
        index = self.items.lookup(history_item_ids)
        mask = tf.cast(index >= 0, tf.float32)[..., None]
        seen = tf.gather(self.candidates, tf.maximum(index, 0)) * mask
        mean = tf.reduce_sum(seen, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        query = mean + tf.gather(self.users, tf.strings.to_hash_bucket_fast(user_id, USER_BUCKETS))
        top = tf.math.top_k(tf.matmul(query, self.candidates, transpose_b=True), k=TOP_K)
        return {"item_ids": tf.gather(self.catalog, top.indices), "scores": top.values}


def build_model(base: str, catalog: int) -> list[str]:
    """Writes version 1 of a ``catalog``-item model under ``base``; returns the item ids."""
    item_ids = [f"item_{i:07d}" for i in range(catalog)]
    vocab = pathlib.Path(base, "vocab.txt")
    vocab.write_text("\n".join(item_ids) + "\n")
    module = Retrieval(str(vocab), item_ids)
    signatures = {"serving_default": module.serve}
    tf.saved_model.save(module, os.path.join(base, MODEL_NAME, "1"), signatures=signatures)
    return item_ids


def make_inputs(item_ids: list[str], count: int, seed: int = 1) -> list[dict[str, np.ndarray]]:
    """``count`` one-user queries: a random history of 10-50 catalog ids, padded with "" to 50."""
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(count):
        seen = [item_ids[i] for i in rng.integers(0, len(item_ids), rng.integers(10, HISTORY + 1))]
        user = np.array([f"user_{rng.integers(10**6)}"], dtype=object)
        queries.append({"user_id": user, "history_item_ids": np.array([seen + [""] * (HISTORY - len(seen))])})
    return queries


def measure(call, payloads: list, concurrency: int, seconds: float) -> tuple[list[float], int]:
    """Calls ``call(payload)`` from ``concurrency`` threads for ``seconds``; returns (latencies s, errors)."""
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                call(payloads[i % len(payloads)])
                latencies[k].append(time.perf_counter() - start)
            except Exception:  # noqa: BLE001 - counted, the run goes on
                errors[k] += 1
            i += concurrency

    with futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return [x for per_thread in latencies for x in per_thread], sum(errors)


def start_server(base: str, extra: tuple[str, ...], log_path: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "serving.server", f"--port={port}", f"--model_name={MODEL_NAME}",
               f"--model_base_path={base}", "--file_system_poll_wait_seconds=0", *extra]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    with GrpcClient(f"127.0.0.1:{port}", MODEL_NAME) as client:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                client.wait_until_ready(timeout=5)
                return process, port
            except TimeoutError:
                pass
    process.kill()
    raise RuntimeError(f"server did not start:\n{pathlib.Path(log_path).read_text()[-2000:]}")


def bench_catalog(catalog: int, config: BenchConfig, workdir: str) -> list[Result]:
    base = os.path.join(workdir, f"catalog_{catalog}")
    os.makedirs(base)
    started = time.perf_counter()
    item_ids = build_model(base, catalog)
    print(f"catalog {catalog}: model built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    inputs = make_inputs(item_ids, 256)
    process, port = start_server(os.path.join(base, MODEL_NAME), config.server_args, base + "/server.log")
    results = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
            payloads = [_request(query).SerializeToString() for query in inputs]
            check = predict_pb2.PredictResponse.FromString(raw(payloads[0], timeout=60))
            assert [d.size for d in check.outputs["item_ids"].tensor_shape.dim] == [1, TOP_K]
            measure(lambda p: raw(p, timeout=60), payloads, 1, min(2.0, config.seconds))  # warm-up
            for concurrency in config.concurrency:
                latencies, errors = measure(
                    lambda p: raw(p, timeout=60), payloads, concurrency, config.seconds
                )
                results.append(_result(catalog, concurrency, latencies, errors, config.seconds))
                print(f"  server c={concurrency}: {results[-1]}", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=60)
    signature = tf.saved_model.load(os.path.join(base, MODEL_NAME, "1")).signatures["serving_default"]
    feeds = [{k: tf.constant(v) for k, v in query.items()} for query in inputs]
    call = lambda feed: signature(**feed)["item_ids"].numpy()  # noqa: E731 - includes the copy out
    measure(call, feeds, 1, min(2.0, config.seconds))
    for result in results:
        latencies, _ = measure(call, feeds, result.concurrency, config.seconds)
        local = _result(catalog, result.concurrency, latencies, 0, config.seconds)
        result.local_p50_ms, result.local_throughput = local.p50_ms, local.throughput
        print(f"  in-process c={result.concurrency}: {local}", file=sys.stderr)
    return results


def _request(query: dict) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    for alias, value in query.items():
        request.inputs[alias].CopyFrom(tensors.to_proto(value))
    return request


def _result(catalog, concurrency, latencies, errors, seconds) -> Result:
    ms = np.array(latencies or [np.nan]) * 1000
    return Result(catalog, concurrency, len(latencies), errors, float(np.percentile(ms, 50)),
                  float(np.percentile(ms, 99)), len(latencies) / seconds)  # fmt: skip


def table(results: list[Result]) -> str:
    lines = [
        "| catalog | concurrency | requests | errors | p50 ms | p99 ms | req/s | in-process p50 ms "
        "| in-process req/s | p50 ratio | throughput ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.catalog:,} | {r.concurrency} | {r.requests} | {r.errors} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.throughput:.0f} | {r.local_p50_ms:.2f} | {r.local_throughput:.0f} "
            f"| {r.p50_ms / r.local_p50_ms:.2f} | {r.local_throughput / max(r.throughput, 1e-9):.2f} |"
        )
    return "\n".join(lines)


def plot(results: list[Result], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4))
    series = [(latency, "p50_ms", "o-", "p50"), (latency, "p99_ms", "^:", "p99"),
              (latency, "local_p50_ms", "x--", "in-process p50"), (throughput, "throughput", "o-", "server"),
              (throughput, "local_throughput", "x--", "in-process")]  # fmt: skip
    for n, catalog in enumerate(sorted({r.catalog for r in results})):
        rows = [r for r in results if r.catalog == catalog]
        for axis, field, style, label in series:
            values = [getattr(r, field) for r in rows]
            axis.plot(
                [r.concurrency for r in rows], values, style, color=f"C{n}", label=f"{catalog:,} {label}"
            )
    levels = sorted({r.concurrency for r in results})
    for axis, label in ((latency, "latency, ms (log scale)"), (throughput, "requests/s")):
        axis.set(xscale="log", xlabel="concurrent clients", ylabel=label)
        axis.set_xticks(levels, [str(c) for c in levels])
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    latency.set_yscale("log")
    figure.suptitle("msrec serve: gRPC Predict, top-100 of the catalog, 1 user per request")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def machine() -> str:
    cpu = re.search(r"^model name\s*:\s*(.+)$", pathlib.Path("/proc/cpuinfo").read_text(), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", pathlib.Path("/proc/meminfo").read_text(), re.M)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or os.cpu_count()
    return (
        f"- CPU: {cpu[1] if cpu else platform.processor()}, `nproc` = {nproc}\n"
        f"- memory: {int(mem[1]) / 2**20:.1f} GiB\n"
        f"- Python {platform.python_version()}, TensorFlow {tf.__version__}, grpcio {grpc.__version__}"
    )


def write_report(results: list[Result], config: BenchConfig) -> str:
    os.makedirs(config.output_dir, exist_ok=True)
    plot(results, os.path.join(config.output_dir, "serving_latency.png"))
    section = f"""## Serving

`msrec serve` (the local TF Serving stand-in, `serving/server.py`) answering gRPC Predict on a
retrieval model shaped like msrec's `serving_default` (`user_id` [B], `history_item_ids` [B,50] ->
top-100 over the whole catalog by brute-force matmul), one user per request, against calling the
same SavedModel's signature in-process from as many threads. Run on {datetime.date.today()}:

```
{config.command}
```

{machine()}

Each cell runs {config.seconds:g} s after a warm-up. The load generator (Python gRPC client threads)
runs on the same cores as the server, so at high concurrency both compete for the CPU. "p50 ratio" is
server p50 / in-process p50 (the serving overhead in latency), "throughput ratio" is in-process req/s /
server req/s. Server flags beyond the defaults: `{" ".join(config.server_args) or "none"}`.

{table(results)}

![serving latency](serving_latency.png)
"""
    path = os.path.join(config.output_dir, "benchmarks.md")
    old = pathlib.Path(path).read_text() if os.path.exists(path) else "# Benchmarks\n"
    match = re.search(r"^## Serving\n.*?(?=^## |\Z)", old, re.M | re.S)
    if match:
        pathlib.Path(path).write_text(old[: match.start()] + section + "\n" + old[match.end() :])
    else:
        pathlib.Path(path).write_text(old.rstrip() + "\n\n" + section)
    return path


def run(config: BenchConfig) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="msrec-bench-") as workdir:
        for catalog in config.catalogs:
            results += bench_catalog(catalog, config, workdir)
    print(table(results))
    print(f"wrote {write_report(results, config)}", file=sys.stderr)
    return results


def parse_args(argv: list[str]) -> BenchConfig:
    ints = lambda text: tuple(int(x) for x in text.split(","))  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalogs", type=ints, default=(2000, 100_000, 1_000_000))
    parser.add_argument("--concurrency", type=ints, default=(1, 8, 32))
    parser.add_argument("--seconds", type=float, default=20.0, help="per measured cell")
    parser.add_argument("--output-dir", default=str(REPO / "docs"))
    parser.add_argument(
        "--server-args", default="", help="extra server flags: --server-args=--enable_batching"
    )
    args = parser.parse_args(argv)
    command = "python bench/serve.py " + " ".join(shlex.quote(a) for a in argv)
    return BenchConfig(args.catalogs, args.concurrency, args.seconds, args.output_dir,
                       tuple(shlex.split(args.server_args)), command.strip())  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    run(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
