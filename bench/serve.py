"""Serving benchmark: latency of msrec's model server against calling the model in-process, and its memory.

For each catalog size it builds a retrieval SavedModel shaped like msrec's ``serving_default`` (``user_id``
[B] and ``history_item_ids`` [B,50] strings -> vocabulary lookup, mean of item embeddings plus a user
embedding -> matmul against the [N,64] candidate matrix -> ``top_k`` 100 -> ``item_ids`` [B,100] and
``scores`` [B,100]), starts ``python -m modelserver`` on a free loopback port and loads the same
SavedModel in this process. With ``--before-root``, a second server runs from that checkout (a copy of
the code before a change). Each cell drives gRPC Predict on the server(s) and the in-process signature
from ``concurrency`` threads, alternating them in ``--rounds`` slices, so that other load on the machine
hits all alike; ``/proc/loadavg`` is read around every cell.

With ``--memory-catalogs``, it also sends ``--memory-repeats`` requests of ``--memory-rows`` rows (the
server's ``--max_request_rows`` default) to a fresh server per catalog (and per checkout) and reads the
server's resident memory before, at its peak (``VmHWM`` after resetting it) and after. It prints the
tables, writes a latency plot, and replaces the "## Serving" section of ``<output-dir>/benchmarks.md``.

    python bench/serve.py --catalogs 2000,100000,1000000 --concurrency 1,8,32 --seconds 20 \\
        --memory-catalogs 100000,1000000 --before-root /tmp/msrec-before --output-dir docs
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pathlib
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
sys.path[:0] = [str(REPO)]

import serving  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads

# isort: off
from bench import common  # noqa: E402
import grpc  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402

from modelserver import tensors  # noqa: E402
from modelserver.client import GrpcClient  # noqa: E402

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
    memory_repeats: int
    output_dir: str
    server_args: tuple[str, ...]
    before_root: str
    json_path: str
    command: str


@dataclasses.dataclass
class Latency:
    """One contender in one cell: requests, errors, p50 and p99 (ms), requests per second."""

    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    throughput: float


@dataclasses.dataclass
class Result:
    """One cell: a catalog at a concurrency; ``before`` is the ``--before-root`` server, if any."""

    catalog: int
    concurrency: int
    served: Latency
    local: Latency
    before: Latency | None
    load: str  # /proc/loadavg (1, 5, 15 min) before and after the cell

    def __str__(self) -> str:
        named = (("served", self.served), ("before", self.before), ("in-process", self.local))
        text = [f"{name} p50 {x.p50_ms:.2f} p99 {x.p99_ms:.2f} ms" for name, x in named if x]
        return f"{self.concurrency} clients: {', '.join(text)}, load {self.load}"


@dataclasses.dataclass
class Memory:
    """Server resident memory (MiB) around large requests."""

    catalog: int
    server: str  # "after" (this checkout) or "before" (--before-root)
    rows: int
    idle_mb: float
    peak_mb: float
    after_first_mb: float
    after_last_mb: float


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


@contextlib.contextmanager
def served(base: str, root: str, config: BenchConfig, log_path: str):
    """Runs ``python -m modelserver`` from the checkout ``root`` on a free port until the block ends.

    Yields:
        (call: serialized PredictRequest -> serialized response, server pid).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "modelserver", f"--port={port}", f"--model_name={MODEL_NAME}",
               f"--model_base_path={base}", "--file_system_poll_wait_seconds=0",
               *config.server_args]  # fmt: skip
    with open(log_path, "w") as log:
        env = {**os.environ, "PYTHONPATH": root}
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=log)
    try:
        with GrpcClient(f"127.0.0.1:{port}", MODEL_NAME) as client:
            client.wait_until_ready(timeout=600)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
            yield (lambda payload: raw(payload, timeout=600)), process.pid
    except TimeoutError as error:
        raise RuntimeError(f"server did not start:\n{pathlib.Path(log_path).read_text()[-2000:]}") from error
    finally:
        process.terminate()
        process.wait(timeout=60)


def bench_catalog(catalog: int, config: BenchConfig, workdir: str) -> list[Result]:
    base = os.path.join(workdir, f"catalog_{catalog}")
    inputs = make_inputs(build_model(base, catalog), 256)
    signature = tf.saved_model.load(os.path.join(base, MODEL_NAME, "1")).signatures["serving_default"]
    feeds = [{k: tf.constant(v) for k, v in query.items()} for query in inputs]
    local = lambda feed: signature(**feed)["item_ids"].numpy()  # noqa: E731 - includes the copy out
    payloads = [_request(query).SerializeToString() for query in inputs]
    roots = (
        {"served": str(REPO), "before": config.before_root} if config.before_root else {"served": str(REPO)}
    )
    with contextlib.ExitStack() as stack:
        contenders = {"local": (local, feeds)}
        for name, root in roots.items():
            call, _ = stack.enter_context(
                served(os.path.join(base, MODEL_NAME), root, config, f"{base}/{name}.log")
            )
            check = predict_pb2.PredictResponse.FromString(call(payloads[0]))
            assert [d.size for d in check.outputs["item_ids"].tensor_shape.dim] == [1, TOP_K]
            contenders[name] = (call, payloads)
        for call, items in contenders.values():  # warm-up
            measure(call, items, 1, min(2.0, config.seconds))
        results = []
        for concurrency in config.concurrency:
            results.append(_cell(catalog, concurrency, contenders, config))
            print(f"catalog {catalog}: {results[-1]}", file=sys.stderr)
    return results


def _cell(catalog: int, concurrency: int, contenders: dict, config: BenchConfig) -> Result:
    """Every contender's latencies at one concurrency, measured in alternating slices."""
    load, times, errors = _loadavg(), {name: [] for name in contenders}, dict.fromkeys(contenders, 0)
    for _ in range(config.rounds):
        for name, (call, items) in contenders.items():
            latencies, failed = measure(call, items, concurrency, config.seconds / config.rounds)
            times[name] += latencies
            errors[name] += failed
    stats = {
        name: Latency(len(t), errors[name], *_percentiles(t), len(t) / config.seconds)
        for name, t in times.items()
    }
    return Result(catalog, concurrency, stats["served"], stats["local"], stats.get("before"),
                  f"{load} -> {_loadavg()}")  # fmt: skip


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in ms."""
    ms = np.array(latencies or [np.nan]) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def measure_memory(catalog: int, server: str, root: str, config: BenchConfig, workdir: str) -> Memory:
    """Server RSS before, at the peak of, and 2 s after each of ``memory_repeats`` requests of
    ``memory_rows`` rows."""
    base = os.path.join(workdir, f"catalog_{catalog}")
    queries = make_inputs(build_model(base, catalog), config.memory_rows, seed=2)
    big = _request({k: np.concatenate([q[k] for q in queries]) for k in queries[0]}).SerializeToString()
    with served(os.path.join(base, MODEL_NAME), root, config, f"{base}/memory-{server}.log") as (call, pid):
        for query in queries[:20]:  # the first requests trace and allocate once
            call(_request(query).SerializeToString())
        time.sleep(2)
        idle, after = _status_mb(pid, "VmRSS"), []
        pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to VmRSS
        for _ in range(config.memory_repeats):
            response = predict_pb2.PredictResponse.FromString(call(big))
            assert response.outputs["scores"].tensor_shape.dim[0].size == config.memory_rows
            time.sleep(2)
            after.append(_status_mb(pid, "VmRSS"))
        peak = _status_mb(pid, "VmHWM")
    memory = Memory(catalog, server, config.memory_rows, idle, peak, after[0], after[-1])
    print(f"memory: {memory}", file=sys.stderr)
    return memory


def _status_mb(pid: int, field: str) -> float:
    found = re.search(rf"^{field}:\s*(\d+) kB", pathlib.Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found[1]) / 1024


def _loadavg() -> str:
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def _request(query: dict) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    for alias, value in query.items():
        request.inputs[alias].CopyFrom(tensors.to_proto(value))
    return request


def latency_table(results: list[Result]) -> list[str]:
    before = any(r.before for r in results)
    pair = lambda x: f"{x.p50_ms:.2f} / {x.p99_ms:.2f}"  # noqa: E731
    head = (
        "| catalog | clients | in-process p50 / p99 ms | served p50 / p99 ms | overhead p50 ms | p99 goal ms "
    )
    head += "| before: served p50 / p99 ms | before: overhead p50 ms " if before else ""
    head += "| req/s in-process / served" + (" / before" if before else "") + " | loadavg before -> after |"
    lines = [head, "|---:" * (9 if before else 7) + "|---|"]
    for r in results:
        goal = 1.3 * r.local.p99_ms + 1.0  # the bound for one client
        met = f"{goal:.2f} {'met' if r.served.p99_ms <= goal else 'missed'}" if r.concurrency == 1 else ""
        line = f"| {r.catalog:,} | {r.concurrency} | {pair(r.local)} | {pair(r.served)} "
        line += f"| {r.served.p50_ms - r.local.p50_ms:.2f} | {met} "
        if before:
            line += f"| {pair(r.before)} | {r.before.p50_ms - r.local.p50_ms:.2f} "
        rates = [r.local, r.served] + ([r.before] if before else [])
        lines.append(line + f"| {' / '.join(f'{x.throughput:.0f}' for x in rates)} | {r.load} |")
    return lines


def memory_table(memory: list[Memory]) -> list[str]:
    lines = ["| catalog | rows | server | idle RSS MiB | peak RSS MiB | RSS after 1st MiB "
             "| RSS after last MiB | after last / idle |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for m in sorted(memory, key=lambda m: (m.catalog, m.server != "before")):
        lines.append(f"| {m.catalog:,} | {m.rows} | {m.server} | {m.idle_mb:.0f} | {m.peak_mb:.0f} "
                     f"| {m.after_first_mb:.0f} | {m.after_last_mb:.0f} "
                     f"| {m.after_last_mb / m.idle_mb:.2f} |")  # fmt: skip
    return lines


def plot(results: list[Result], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4))
    series = [(latency, "served", "p50_ms", "o-", "p50"), (latency, "served", "p99_ms", "^:", "p99"),
              (latency, "local", "p50_ms", "x--", "in-process p50"),
              (throughput, "served", "throughput", "o-", "server"),
              (throughput, "local", "throughput", "x--", "in-process")]  # fmt: skip
    for n, catalog in enumerate(sorted({r.catalog for r in results})):
        rows = [r for r in results if r.catalog == catalog]
        for axis, who, field, style, label in series:
            values = [getattr(getattr(r, who), field) for r in rows]
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


INTRO = """`msrec serve` (the local TF Serving stand-in, `modelserver/`) answering gRPC Predict on a
retrieval model shaped like msrec's `serving_default` (`user_id` [B], `history_item_ids` [B,50] ->
top-100 over the whole catalog by brute-force matmul), one user per request, against calling the same
SavedModel's signature in-process from as many threads. "before" is the same server run from a copy of
the code before the per-request overhead was cut (`--before-root`). Each cell runs `--seconds` per
contender after a warm-up, alternating the contenders in `--rounds` slices so that other load on the
machine falls on all alike; the last column is `/proc/loadavg` before and after the cell (the
benchmark's own client threads count in it). The load generator (Python gRPC client threads) runs on
the same cores as the servers, so with many clients they compete for the CPU. "overhead" is served p50
minus in-process p50; "p99 goal" is the bound for one client, 1.3 x in-process p99 + 1 ms."""

MEMORY = """### Memory of requests at the row cap

`--memory-repeats` requests of `--memory-rows` users each (the server's `--max_request_rows` default,
1024) to a fresh server per catalog and checkout, after 20 one-user requests: the server's `VmRSS` 2 s
after those ("idle"), its `VmHWM` over the large requests (reset before the first through
`/proc/<pid>/clear_refs`), and its `VmRSS` 2 s after the first and after the last. The [rows, catalog]
float32 score matrix dominates a whole run's peak (4 GiB at 1,000,000 items); the server now runs such
requests in slices of `--max_execution_rows` (16) rows."""


def write_report(results: list[Result], memory: list[Memory], config: BenchConfig) -> str:
    """Replaces the "## Serving" section of ``<output_dir>/benchmarks.md``; returns its path."""
    os.makedirs(config.output_dir, exist_ok=True)
    versions = f"TensorFlow {tf.__version__}, grpcio {grpc.__version__}"
    parts = [INTRO, f"```\n{config.command}\n```", common.machine(versions),
             f"Server flags beyond the defaults: `{' '.join(config.server_args) or 'none'}`."]  # fmt: skip
    if results:
        plot(results, os.path.join(config.output_dir, "serving_latency.png"))
        parts += ["\n".join(latency_table(results)), "![serving latency](serving_latency.png)"]
    if memory:
        parts += [MEMORY, "\n".join(memory_table(memory))]
    path = os.path.join(config.output_dir, "benchmarks.md")
    common.write_section(path, "Serving", "\n\n".join(parts))
    return path


def run(config: BenchConfig) -> tuple[list[Result], list[Memory]]:
    results, memory = [], []
    roots = {"after": str(REPO), **({"before": config.before_root} if config.before_root else {})}
    with tempfile.TemporaryDirectory(prefix="msrec-bench-") as workdir:
        for catalog in config.catalogs:
            results += bench_catalog(catalog, config, workdir)
        for catalog in config.memory_catalogs:
            memory += [measure_memory(catalog, name, root, config, workdir) for name, root in roots.items()]
    print("\n".join(latency_table(results) + [""] + memory_table(memory)))
    if config.json_path:
        data = {"command": config.command, "results": [dataclasses.asdict(r) for r in results],
                "memory": [dataclasses.asdict(m) for m in memory]}  # fmt: skip
        pathlib.Path(config.json_path).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {write_report(results, memory, config)}", file=sys.stderr)
    return results, memory


def parse_args(argv: list[str]) -> BenchConfig:
    ints = lambda text: tuple(int(x) for x in text.split(",") if x)  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--catalogs", type=ints, default=(2000, 100_000, 1_000_000))
    add("--concurrency", type=ints, default=(1, 8, 32))
    add("--seconds", type=float, default=20.0, help="per cell and contender")
    add("--rounds", type=int, default=4, help="alternating slices per cell")
    add("--memory-catalogs", type=ints, default=(), help="catalogs for the large-request memory test")
    add("--memory-rows", type=int, default=1024, help="rows of each large request")
    add("--memory-repeats", type=int, default=3, help="large requests per catalog")
    add("--output-dir", default=str(REPO / "docs"))
    add("--server-args", default="", help="extra server flags: --server-args=--enable_batching")
    add("--before-root", default="", help="also measure the server of this checkout, as 'before'")
    add("--json", default="", help="also write the numbers here")
    args = parser.parse_args(argv)
    command = "python bench/serve.py " + " ".join(shlex.quote(a) for a in argv)
    before = os.path.abspath(args.before_root) if args.before_root else ""
    return BenchConfig(args.catalogs, args.concurrency, args.seconds, max(1, args.rounds),
                       args.memory_catalogs, args.memory_rows, max(1, args.memory_repeats), args.output_dir,
                       tuple(shlex.split(args.server_args)), before, args.json, command.strip())  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    run(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
