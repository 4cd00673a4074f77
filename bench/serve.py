"""Serving benchmark: latency of msrec's model server against calling the model in-process, and its memory.

For each catalog size it builds a retrieval SavedModel shaped like msrec's ``serving_default`` (``user_id``
[B] and ``history_item_ids`` [B,50] strings -> vocabulary lookup, mean of item embeddings plus a user
embedding -> matmul against the [N,64] candidate matrix -> ``top_k`` 100 -> ``item_ids`` [B,100] and
``scores`` [B,100]), starts ``python -m serving.server`` on a free loopback port and loads the same
SavedModel in this process. Each cell drives gRPC Predict and the in-process signature from
``concurrency`` threads, alternating the two in ``--rounds`` slices of ``--seconds / --rounds``, so that
another load on the machine hits both alike; ``/proc/loadavg`` is read around every cell.

With ``--memory-catalogs``, it also sends one request of ``--memory-rows`` rows (the server's
``--max_request_rows`` default) to a fresh server per catalog and reads the server's resident memory
before, at its peak (``VmHWM`` after resetting it) and after. ``--server-root`` runs the server from another
checkout (e.g. a copy taken before a change) and ``--json`` keeps the numbers, so a later run can show them
as "before" with ``--baseline``. It prints the tables, writes a latency plot, and replaces the
"## Serving" section of ``<output-dir>/benchmarks.md``.

    python bench/serve.py --catalogs 2000,100000,1000000 --concurrency 1,8,32 --seconds 20 \\
        --memory-catalogs 100000,1000000 --output-dir docs
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from concurrent import futures

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import serving  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads

# isort: off
import common  # noqa: E402
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
    rounds: int
    memory_catalogs: tuple[int, ...]
    memory_rows: int
    output_dir: str
    server_args: tuple[str, ...]
    server_root: str
    json_path: str
    baseline: str
    command: str


@dataclasses.dataclass
class Result:
    """One cell: served and in-process latencies (ms) of one catalog at one concurrency."""

    catalog: int
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    throughput: float
    local_p50_ms: float
    local_p99_ms: float
    local_throughput: float
    load: str  # /proc/loadavg (1, 5, 15 min) before and after the cell

    @property
    def goal_ms(self) -> float:
        """The issue's bound on the served p99: 1.3 x in-process p99 + 1 ms."""
        return 1.3 * self.local_p99_ms + 1.0


@dataclasses.dataclass
class Memory:
    """Server resident memory (MiB) around one large request."""

    catalog: int
    rows: int
    idle_mb: float
    peak_mb: float
    after_mb: float


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
    """Writes version 1 of a ``catalog``-item model under ``base`` (once); returns the item ids."""
    item_ids = [f"item_{i:07d}" for i in range(catalog)]
    if not os.path.exists(os.path.join(base, MODEL_NAME, "1")):
        os.makedirs(base, exist_ok=True)
        vocab = pathlib.Path(base, "vocab.txt")
        vocab.write_text("\n".join(item_ids) + "\n")
        module = Retrieval(str(vocab), item_ids)
        tf.saved_model.save(
            module, os.path.join(base, MODEL_NAME, "1"), signatures={"serving_default": module.serve}
        )
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


def start_server(base: str, config: BenchConfig, log_path: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "serving.server", f"--port={port}", f"--model_name={MODEL_NAME}",
               f"--model_base_path={base}", "--file_system_poll_wait_seconds=0",
               *config.server_args]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": config.server_root}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=config.server_root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
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
    started = time.perf_counter()
    item_ids = build_model(base, catalog)
    print(f"catalog {catalog}: model built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    inputs = make_inputs(item_ids, 256)
    signature = tf.saved_model.load(os.path.join(base, MODEL_NAME, "1")).signatures["serving_default"]
    feeds = [{k: tf.constant(v) for k, v in query.items()} for query in inputs]
    local = lambda feed: signature(**feed)["item_ids"].numpy()  # noqa: E731 - includes the copy out
    process, port = start_server(os.path.join(base, MODEL_NAME), config, base + "/server.log")
    results = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
            served = lambda p: raw(p, timeout=60)  # noqa: E731
            payloads = [_request(query).SerializeToString() for query in inputs]
            check = predict_pb2.PredictResponse.FromString(served(payloads[0]))
            assert [d.size for d in check.outputs["item_ids"].tensor_shape.dim] == [1, TOP_K]
            warm = min(2.0, config.seconds)
            measure(served, payloads, 1, warm), measure(local, feeds, 1, warm)
            for concurrency in config.concurrency:
                results.append(_cell(catalog, concurrency, (served, payloads), (local, feeds), config))
                print(f"  c={concurrency}: {_summary(results[-1])}", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return results


def _cell(catalog: int, concurrency: int, served, local, config: BenchConfig) -> Result:
    """Served and in-process in alternating slices of one cell."""
    load = _loadavg()
    times: dict[str, list[float]] = {"served": [], "local": []}
    errors = 0
    for _ in range(config.rounds):
        for name, (call, payloads) in (("served", served), ("local", local)):
            latencies, failed = measure(call, payloads, concurrency, config.seconds / config.rounds)
            times[name] += latencies
            errors += failed if name == "served" else 0
    s, lo = _percentiles(times["served"]), _percentiles(times["local"])
    rate = lambda xs: len(xs) / config.seconds  # noqa: E731
    return Result(catalog, concurrency, len(times["served"]), errors, *s, rate(times["served"]), *lo,
                  rate(times["local"]), f"{load} -> {_loadavg()}")  # fmt: skip


def measure_memory(catalog: int, config: BenchConfig, workdir: str) -> Memory:
    """Server RSS before, at the peak of, and 2 s after one request of ``memory_rows`` rows."""
    base = os.path.join(workdir, f"catalog_{catalog}")
    item_ids = build_model(base, catalog)
    queries = make_inputs(item_ids, config.memory_rows, seed=2)
    big = _request({k: np.concatenate([q[k] for q in queries]) for k in queries[0]}).SerializeToString()
    small = [_request(q).SerializeToString() for q in queries[:20]]
    process, port = start_server(os.path.join(base, MODEL_NAME), config, base + "/memory.log")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
            for payload in small:  # the first requests trace and allocate once
                raw(payload, timeout=60)
            time.sleep(2)
            idle = _status_mb(process.pid, "VmRSS")
            pathlib.Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # resets VmHWM to VmRSS
            response = predict_pb2.PredictResponse.FromString(raw(big, timeout=600))
            assert response.outputs["scores"].tensor_shape.dim[0].size == config.memory_rows
            peak = _status_mb(process.pid, "VmHWM")
            time.sleep(2)
            after = _status_mb(process.pid, "VmRSS")
    finally:
        process.terminate()
        process.wait(timeout=60)
    memory = Memory(catalog, config.memory_rows, idle, peak, after)
    print(f"memory {catalog}: {memory}", file=sys.stderr)
    return memory


def _status_mb(pid: int, field: str) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _loadavg() -> str:
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def _request(query: dict) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    for alias, value in query.items():
        request.inputs[alias].CopyFrom(tensors.to_proto(value))
    return request


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ms = np.array(latencies or [np.nan]) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _summary(r: Result) -> str:
    return (f"served p50 {r.p50_ms:.2f} p99 {r.p99_ms:.2f} ms ({r.requests}, {r.errors} errors); in-process "
            f"p50 {r.local_p50_ms:.2f} p99 {r.local_p99_ms:.2f} ms; load {r.load}")  # fmt: skip


def latency_table(results: list[Result]) -> list[str]:
    lines = [
        "| catalog | concurrency | requests | errors | p50 ms | p99 ms | req/s | in-process p50 ms "
        "| in-process p99 ms | in-process req/s | overhead p50 ms | p99 goal ms | loadavg before -> after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        goal = f"{r.goal_ms:.2f} {'met' if r.p99_ms <= r.goal_ms else 'missed'}" if r.concurrency == 1 else ""
        lines.append(
            f"| {r.catalog:,} | {r.concurrency} | {r.requests} | {r.errors} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.throughput:.0f} | {r.local_p50_ms:.2f} | {r.local_p99_ms:.2f} "
            f"| {r.local_throughput:.0f} | {r.p50_ms - r.local_p50_ms:.2f} | {goal} | {r.load} |"
        )
    return lines


def comparison_table(results: list[Result], baseline: list[Result]) -> list[str]:
    """Per-request overhead (served - in-process, ms) before and after, cell by cell."""
    before = {(r.catalog, r.concurrency): r for r in baseline}
    lines = [
        "| catalog | concurrency | overhead p50 before | after | p99 before | after | in-process p99 before "
        "| after | p99 / in-process p99 before | after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = before.get((r.catalog, r.concurrency))
        if b is not None:
            lines.append(
                f"| {r.catalog:,} | {r.concurrency} | {b.p50_ms - b.local_p50_ms:.2f} "
                f"| {r.p50_ms - r.local_p50_ms:.2f} | {b.p99_ms:.2f} | {r.p99_ms:.2f} "
                f"| {b.local_p99_ms:.2f} | {r.local_p99_ms:.2f} | {b.p99_ms / b.local_p99_ms:.2f} "
                f"| {r.p99_ms / r.local_p99_ms:.2f} |"
            )
    return lines


def memory_table(memory: list[Memory], baseline: list[Memory]) -> list[str]:
    before = {m.catalog: m for m in baseline}
    lines = [
        "| catalog | rows | run | idle RSS MiB | peak RSS MiB | RSS 2 s after MiB | after / idle |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for m in memory:
        for run, x in (("before", before.get(m.catalog)), ("after", m)):
            if x is not None:
                lines.append(f"| {x.catalog:,} | {x.rows} | {run} | {x.idle_mb:.0f} | {x.peak_mb:.0f} "
                             f"| {x.after_mb:.0f} | {x.after_mb / x.idle_mb:.2f} |")  # fmt: skip
    return lines


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


def write_report(results: list[Result], memory: list[Memory], config: BenchConfig) -> str:
    os.makedirs(config.output_dir, exist_ok=True)
    if results:
        plot(results, os.path.join(config.output_dir, "serving_latency.png"))
    base_results, base_memory = _load(config.baseline) if config.baseline else ([], [])
    flags = " ".join(config.server_args) or "none"
    body = f"""`msrec serve` (the local TF Serving stand-in, `serving/server/`) answering gRPC Predict on a
retrieval model shaped like msrec's `serving_default` (`user_id` [B], `history_item_ids` [B,50] ->
top-100 over the whole catalog by brute-force matmul), one user per request, against calling the
same SavedModel's signature in-process from as many threads. Run on {datetime.date.today()}:

```
{config.command}
```

{common.machine(f"TensorFlow {tf.__version__}, grpcio {grpc.__version__}")}

Each cell runs {config.seconds:g} s served and {config.seconds:g} s in-process after a warm-up, alternating
the two in {config.rounds} slices so that other load on the machine falls on both alike; the last column is
`/proc/loadavg` before and after the cell. The load generator (Python gRPC client threads) runs on the
same cores as the server, so at high concurrency both compete for the CPU. "overhead" is served p50 -
in-process p50; "p99 goal" is the issue's bound for one client, 1.3 x in-process p99 + 1 ms. Server
flags beyond the defaults: `{flags}`.

""" + "\n".join(latency_table(results))
    if base_results:
        body += "\n\nBefore and after cutting the per-request overhead (before: the same command, with the "
        body += "server run from a copy of the code before the change via `--server-root`):\n\n"
        body += "\n".join(comparison_table(results, base_results))
    if results:
        body += "\n\n![serving latency](serving_latency.png)"
    if memory:
        body += f"\n\n### Memory of one request at the row cap\n\n{MEMORY_TEXT}\n\n"
        body += "\n".join(memory_table(memory, base_memory))
    path = os.path.join(config.output_dir, "benchmarks.md")
    common.write_section(path, "Serving", body)
    return path


MEMORY_TEXT = """One request of `--memory-rows` users (the server's `--max_request_rows` default, 1024) to a
fresh server per catalog, after 20 one-user requests: the server's `VmRSS` 2 s after those ("idle"), its
`VmHWM` during the request (reset just before it through `/proc/<pid>/clear_refs`), and its `VmRSS` 2 s
after the answer. The [rows, catalog] float32 score matrix dominates the peak (4 GiB at 1,000,000 items)."""


def _save(path: str, results: list[Result], memory: list[Memory], config: BenchConfig) -> None:
    data = {"command": config.command, "date": str(datetime.date.today()),
            "results": [dataclasses.asdict(r) for r in results],
            "memory": [dataclasses.asdict(m) for m in memory]}  # fmt: skip
    pathlib.Path(path).write_text(json.dumps(data, indent=1) + "\n")


def _load(path: str) -> tuple[list[Result], list[Memory]]:
    data = json.loads(pathlib.Path(path).read_text())
    return [Result(**r) for r in data["results"]], [Memory(**m) for m in data["memory"]]


def run(config: BenchConfig) -> tuple[list[Result], list[Memory]]:
    results, memory = [], []
    with tempfile.TemporaryDirectory(prefix="msrec-bench-") as workdir:
        for catalog in config.catalogs:
            results += bench_catalog(catalog, config, workdir)
        for catalog in config.memory_catalogs:
            memory.append(measure_memory(catalog, config, workdir))
    print("\n".join(latency_table(results)))
    print("\n".join(memory_table(memory, [])))
    if config.json_path:
        _save(config.json_path, results, memory, config)
    print(f"wrote {write_report(results, memory, config)}", file=sys.stderr)
    return results, memory


def parse_args(argv: list[str]) -> BenchConfig:
    ints = lambda text: tuple(int(x) for x in text.split(",") if x)  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--catalogs", type=ints, default=(2000, 100_000, 1_000_000))
    add("--concurrency", type=ints, default=(1, 8, 32))
    add("--seconds", type=float, default=20.0, help="per measured cell, served and in-process each")
    add("--rounds", type=int, default=4, help="alternating served/in-process slices per cell")
    add("--memory-catalogs", type=ints, default=(), help="catalogs for the one-large-request memory test")
    add("--memory-rows", type=int, default=1024, help="rows of that request")
    add("--output-dir", default=str(REPO / "docs"))
    add("--server-args", default="", help="extra server flags: --server-args=--enable_batching")
    add("--server-root", default=str(REPO), help="checkout to run the server from (a 'before' copy)")
    add("--json", default="", help="also write the numbers here")
    add("--baseline", default="", help="--json of an earlier run, shown as 'before'")
    args = parser.parse_args(argv)
    command = "python bench/serve.py " + " ".join(shlex.quote(a) for a in argv)
    return BenchConfig(args.catalogs, args.concurrency, args.seconds, max(1, args.rounds),
                       args.memory_catalogs, args.memory_rows, args.output_dir,
                       tuple(shlex.split(args.server_args)), os.path.abspath(args.server_root), args.json,
                       args.baseline, command.strip())  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    run(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
