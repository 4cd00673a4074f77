"""Server-side dynamic batching: TF Serving's shared batch scheduler in front of the signatures.

With ``--enable_batching``, concurrent Predict requests on the same signature (of the same version,
with the same per-example input shapes) wait in a queue, are concatenated along dimension 0, run once,
and the outputs are split back (``batching/batching_session.cc``). Hence TF Serving's rules: every
input needs rank >= 1 and one dim-0 size per request, and every output's dim 0 must equal the batch's.

The queue is bounded the way ``SharedBatchScheduler`` bounds it: a request that would open a batch
beyond ``max_enqueued_batches`` is turned away with UNAVAILABLE "The batch scheduling queue to which this
task was submitted is full" instead of waiting. ``num_batch_threads`` threads run batches; a batch runs
once it is full, or once its oldest request has waited ``batch_timeout_micros`` and a thread is free.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Mapping

import grpc
import numpy as np

from modelserver.server.metrics import ServingMetrics
from modelserver.server.servable import Signature
from modelserver.status import ServingError, invalid

log = logging.getLogger("modelserver")

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """``BatchingParameters``, with the defaults of TF Serving's batch scheduler options."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()

    @classmethod
    def from_proto(cls, params) -> BatchingOptions:
        """From a ``tensorflow.serving.BatchingParameters``.

        Raises:
            ValueError: for values TF Serving rejects too.
        """
        values = {}
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            if params.HasField(name):
                values[name] = getattr(params, name).value
        if params.HasField("thread_pool_name"):
            values["thread_pool_name"] = params.thread_pool_name.value
        options = cls(**values, allowed_batch_sizes=tuple(params.allowed_batch_sizes))
        if min(options.max_batch_size, options.max_enqueued_batches, options.num_batch_threads) < 1:
            raise ValueError("max_batch_size, max_enqueued_batches and num_batch_threads must be >= 1")
        sizes = list(options.allowed_batch_sizes)
        if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != options.max_batch_size):
            raise ValueError("allowed_batch_sizes must increase and end with max_batch_size")
        if params.pad_variable_length_inputs:
            log.warning("modelserver: pad_variable_length_inputs is not supported; inputs of other "
                        "shapes are batched separately instead")  # fmt: skip
        return options


class _Task:
    def __init__(self, arrays: Mapping[str, np.ndarray], size: int):
        self.arrays = arrays
        self.size = size
        self.enqueued = time.perf_counter()
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: ServingError | None = None
        self.abandoned = False  # the caller stopped waiting (deadline); skip it if not yet run


class _Queue:
    def __init__(self, model_name: str, signature: Signature):
        self.model_name = model_name
        self.signature = signature  # held, so the id in the queue key cannot be reused meanwhile
        self.batches: collections.deque[list[_Task]] = collections.deque([[]])  # last one is open

    def open_size(self) -> int:
        return sum(task.size for task in self.batches[-1])


class BatchScheduler:
    """Batches requests per (signature, per-example shapes) queue over a shared pool of threads."""

    def __init__(self, options: BatchingOptions, metrics: ServingMetrics):
        self.options = options
        self._metrics = metrics
        self._cond = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{options.thread_pool_name}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(
        self,
        model_name: str,
        signature: Signature,
        arrays: Mapping[str, np.ndarray],
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Enqueues one request, waits for its batch, and returns its rows of every output.

        Raises:
            ServingError: INVALID_ARGUMENT for an unbatchable request, UNAVAILABLE when the queue is full
                or the scheduler stopped, DEADLINE_EXCEEDED after ``timeout`` s, or the batch's error.
        """
        signature.check_shapes(arrays)
        task = _Task(arrays, _batch_size(arrays, self.options.max_batch_size))
        key = (id(signature), tuple((alias, a.dtype.str, a.shape[1:]) for alias, a in sorted(arrays.items())))
        with self._cond:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "The batch scheduler is shutting down")
            queue = self._queues.setdefault(key, _Queue(model_name, signature))
            if queue.open_size() + task.size > self.options.max_batch_size:
                if len(queue.batches) >= self.options.max_enqueued_batches:
                    raise ServingError(grpc.StatusCode.UNAVAILABLE, QUEUE_FULL)
                queue.batches.append([])
            queue.batches[-1].append(task)
            self._cond.notify()
        if not task.done.wait(timeout):
            task.abandoned = True
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded while batching")
        if task.error is not None:
            raise task.error
        return task.outputs

    def stop(self) -> None:
        """Runs what is queued, then ends the threads."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                while batch is None:
                    if self._stopped:
                        return
                    self._cond.wait(self._seconds_to_next_timeout())
                    batch = self._next_batch()
            self._process(*batch)

    def _next_batch(self) -> tuple[_Queue, list[_Task]] | None:
        """Takes the oldest closed batch, or an open batch whose oldest task timed out (under the lock)."""
        now, timeout = time.perf_counter(), self.options.batch_timeout_micros / 1e6
        best = None
        for key, queue in self._queues.items():
            first = queue.batches[0]
            ready = len(queue.batches) > 1 or (
                first
                and (
                    self._stopped
                    or now - first[0].enqueued >= timeout
                    or queue.open_size() >= self.options.max_batch_size
                )
            )
            if ready and (best is None or first[0].enqueued < best[1].batches[0][0].enqueued):
                best = (key, queue)
        if best is None:
            return None
        key, queue = best
        batch = queue.batches.popleft()
        if not queue.batches:
            del self._queues[key]  # empty queues go, so odd shapes cannot pile up queues
        return queue, batch

    def _seconds_to_next_timeout(self) -> float | None:
        oldest = [q.batches[0][0].enqueued for q in self._queues.values() if q.batches[0]]
        if not oldest:
            return None
        return max(0.0, min(oldest) + self.options.batch_timeout_micros / 1e6 - time.perf_counter())

    def _process(self, queue: _Queue, batch: list[_Task]) -> None:
        tasks = [task for task in batch if not task.abandoned]
        if not tasks:
            return
        start = time.perf_counter()
        for task in tasks:
            self._metrics.queuing_latency.observe(
                (start - task.enqueued) * 1e6, self.options.thread_pool_name
            )
        try:
            outputs = self._run_batch(queue, tasks)
        except ServingError as error:
            for task in tasks:
                task.error = error
        except Exception as error:  # noqa: BLE001 - a failed batch fails its requests, not the thread.
            log.exception("modelserver: batch of %s failed", queue.model_name)
            for task in tasks:
                task.error = ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
        else:
            offset = 0
            for task in tasks:
                task.outputs = {alias: array[offset : offset + task.size] for alias, array in outputs.items()}
                offset += task.size
        for task in tasks:
            task.done.set()

    def _run_batch(self, queue: _Queue, tasks: list[_Task]) -> dict[str, np.ndarray]:
        total = sum(task.size for task in tasks)
        padded = next((s for s in self.options.allowed_batch_sizes if s >= total), total)
        inputs = {}
        for alias in tasks[0].arrays:
            parts = [task.arrays[alias] for task in tasks]
            if padded > total:  # TF Serving pads with copies of the first example
                parts.append(np.repeat(parts[0][:1], padded - total, axis=0))
            inputs[alias] = np.concatenate(parts)
        start = time.perf_counter()
        outputs = queue.signature.run(inputs)
        micros = (time.perf_counter() - start) * 1e6
        self._metrics.runtime_latency.observe(micros, queue.model_name, "Predict", "TF2")
        self._metrics.batch_runs.inc()
        self._metrics.batch_size.observe(padded, queue.model_name)
        for alias, array in outputs.items():
            if np.ndim(array) == 0 or len(array) != padded:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Batched output tensor's 0th dimension does not equal the sum of the 0th dimension "
                    f"sizes of the input tensors (output {alias})",
                )
        return outputs


def _batch_size(arrays: Mapping[str, np.ndarray], max_batch_size: int) -> int:
    """A request's size (its dim 0), checked as TF Serving's BatchingSession checks it."""
    sizes = set()
    for array in arrays.values():
        if np.ndim(array) == 0:
            raise invalid("Batching session Run() input tensors must have at least one dimension")
        sizes.add(len(array))
    if len(sizes) > 1:
        raise invalid("Batching session Run() input tensors must have equal 0th-dimension size")
    size = sizes.pop() if sizes else 0
    if size > max_batch_size:
        raise invalid(f"Task size {size} is larger than maximum input batch size {max_batch_size}")
    return size
