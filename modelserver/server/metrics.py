"""TF Serving's monitoring metrics and their Prometheus text exposition.

TF Serving records TF monitoring metrics (``/tensorflow/serving/request_count`` ...) and, with
``--monitoring_config_file``, exports them on the REST port in the Prometheus text format, names with
every character outside ``[a-zA-Z0-9_]`` turned into ``:`` (``util/prometheus_exporter.cc``). The
names, labels, units (microseconds) and buckets below are TF Serving's (``servables/tensorflow/util.cc``,
``batching/batching_session.cc``), so dashboards built on the stand-in keep working in production.
Metrics are always recorded; only the endpoint is optional.

The exposition is written here rather than by ``prometheus_client``: its text format always exports a
counter as ``<name>_total`` (in ``# TYPE`` too, checked with 0.26), so TF Serving's
``:tensorflow:serving:request_count`` could not keep its name.
"""

from __future__ import annotations

import bisect
import math
import threading

import grpc

DEFAULT_PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def exponential_buckets(scale: float, growth: float, count: int) -> list[float]:
    """TF monitoring's ``Buckets::Exponential``: upper bounds scale * growth**i (the last is +Inf)."""
    return [scale * growth**i for i in range(count - 1)]


class _Metric:
    kind = ""

    def __init__(self, name: str, description: str, labels: tuple[str, ...]):
        self.name = ":" + name.strip("/").replace("/", ":")  # the exporter's renaming
        self.description = description
        self.labels = labels
        self._lock = threading.Lock()
        self._cells: dict[tuple[str, ...], object] = {}

    def _label_text(self, values: tuple[str, ...], extra: str = "") -> str:
        pairs = [f'{k}="{_escape(v)}"' for k, v in zip(self.labels, values, strict=True)]
        pairs += [extra] if extra else []
        return "{" + ",".join(pairs) + "}" if pairs else ""

    def exposition(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.description}", f"# TYPE {self.name} {self.kind}"]
        with self._lock:
            cells = sorted(self._cells.items())
        for values, cell in cells:
            lines += self._cell_lines(values, cell)
        return lines

    def _cell_lines(self, values, cell) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def inc(self, *values: str, amount: int = 1) -> None:
        with self._lock:
            self._cells[values] = self._cells.get(values, 0) + amount

    def value(self, *values: str) -> int:
        with self._lock:
            return self._cells.get(values, 0)

    def _cell_lines(self, values, cell) -> list[str]:
        return [f"{self.name}{self._label_text(values)} {cell}"]


class Sampler(_Metric):
    """TF monitoring's ``Sampler`` (a distribution over fixed buckets), exported as a Prometheus
    histogram with cumulative buckets. Named after TF's class, not ``prometheus_client.Histogram``."""

    kind = "histogram"

    def __init__(self, name: str, description: str, labels: tuple[str, ...], bounds: list[float]):
        super().__init__(name, description, labels)
        self.bounds = bounds

    def observe(self, value: float, *values: str) -> None:
        index = bisect.bisect_right(self.bounds, value)  # the first bound above value; len: +Inf
        with self._lock:
            counts, total = self._cells.get(values, ([0] * (len(self.bounds) + 1), 0.0))
            counts[index] += 1
            self._cells[values] = (counts, total + value)

    def count(self, *values: str) -> int:
        with self._lock:
            counts, _ = self._cells.get(values, ([0], 0.0))
            return sum(counts)

    def _cell_lines(self, values, cell) -> list[str]:
        counts, total = cell
        lines, running = [], 0
        for bound, count in zip([*self.bounds, math.inf], counts, strict=True):
            running += count
            le = 'le="+Inf"' if bound == math.inf else f'le="{float(bound)!r}"'
            lines.append(f"{self.name}_bucket{self._label_text(values, le)} {running}")
        lines.append(f"{self.name}_sum{self._label_text(values)} {total!r}")
        lines.append(f"{self.name}_count{self._label_text(values)} {running}")
        return lines


class ServingMetrics:
    """The metrics the server records, by TF Serving's names."""

    def __init__(self):
        latency_buckets = exponential_buckets(10, 1.8, 33)  # util.cc: ~20 minutes in microseconds
        self.request_count = Counter(
            "/tensorflow/serving/request_count", "The total number of requests.", ("model_name", "status")
        )
        self.request_latency = Sampler(
            "/tensorflow/serving/request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ("model_name", "API", "entrypoint"),
            latency_buckets,
        )
        self.runtime_latency = Sampler(
            "/tensorflow/serving/runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"),
            latency_buckets,
        )
        self.warmup_latency = Sampler(
            "/tensorflow/serving/model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ("model_path", "status"),
            exponential_buckets(10, 1.8, 33),
        )
        self.batch_runs = Counter(
            "/tensorflow/serving/batching_session/wrapped_run_count",
            "Total count of run calls on the wrapped session",
            (),
        )
        self.queuing_latency = Sampler(
            "/tensorflow/serving/batching_session/queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ("thread_pool_name",),
            exponential_buckets(100, 1.2, 52),
        )
        self.batch_size = Sampler(
            "/tensorflow/serving/batching/processed_batch_size",
            "Tracks the batch size distribution on processing.",
            ("model_name",),
            exponential_buckets(1, 2, 15),
        )
        self._all = [
            self.request_count,
            self.request_latency,
            self.runtime_latency,
            self.warmup_latency,
            self.batch_runs,
            self.queuing_latency,
            self.batch_size,
        ]

    def record_request(
        self, model_name: str, api: str, entrypoint: str, code: grpc.StatusCode, micros: float
    ) -> None:
        """Counts a request; its latency is sampled only when it succeeded, as TF Serving does."""
        self.request_count.inc(model_name, code.name)
        if code == grpc.StatusCode.OK:
            self.request_latency.observe(micros, model_name, api, entrypoint)

    def exposition(self) -> str:
        """The Prometheus text format of every metric."""
        lines: list[str] = []
        for metric in self._all:
            lines += metric.exposition()
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
