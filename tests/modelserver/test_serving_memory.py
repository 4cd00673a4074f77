"""Memory after large requests: the trimmer runs after requests of many rows only, once per burst."""

from __future__ import annotations

import threading

import numpy as np

from modelserver.server import memory
from modelserver.server.metrics import ServingMetrics
from modelserver.server.predict import Executor


class FakeTrim:
    """Stands in for ``malloc_trim``: counts calls and lets the test wait for the next one."""

    def __init__(self):
        self.calls: list[int] = []
        self.called = threading.Event()

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        self.called.set()
        return 1


class FakeSignature:
    def run_in_slices(self, arrays, output_filter=(), max_rows=0):
        return {"y": np.zeros(len(arrays["x"]), np.float32)}


def test_trims_once_after_a_burst_of_large_requests_and_never_after_small_ones():
    trim = FakeTrim()
    trimmer = memory.MemoryTrimmer(trim, min_rows=64, delay=0.05)
    try:
        for _ in range(20):
            trimmer.request_done(63)
        assert not trim.called.wait(0.3) and trim.calls == []
        for _ in range(20):
            trimmer.request_done(1024)
        assert trim.called.wait(10)
    finally:
        trimmer.stop()
    assert trim.calls == [0] and trimmer.trims == 1


def test_executor_reports_the_rows_of_every_request():
    seen: list[int] = []

    class Recorder(memory.MemoryTrimmer):
        def request_done(self, rows: int) -> None:
            seen.append(rows)

    executor = Executor(ServingMetrics(), trimmer=Recorder(trim=None))
    for rows in (1, 100):
        assert executor.run("m", FakeSignature(), {"x": np.ones(rows, np.float32)})["y"].shape == (rows,)
    assert seen == [1, 100]


def test_without_glibc_the_trimmer_does_nothing():
    trimmer = memory.MemoryTrimmer(trim=None)
    trimmer.request_done(10_000)
    trimmer.stop()
    assert trimmer.trims == 0


def test_glibc_malloc_trim_is_callable_here():
    trim = memory.glibc_malloc_trim()  # this machine runs glibc; elsewhere None is the contract
    assert trim is not None and trim(0) in (0, 1)
