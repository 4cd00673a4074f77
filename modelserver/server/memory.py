"""Giving memory back after large requests: glibc's ``malloc_trim`` on a background thread.

What stays resident after a large request is mostly TensorFlow's: its oneDNN build serves allocations
of 4 KiB and more from a BFC pool that grows to the largest run and never shrinks. The server bounds that
by running large requests in slices of rows (``Signature.run_in_slices``, ``--max_execution_rows``).
What the request's Python objects (protos, numpy arrays of strings) leave in glibc's arenas is returned
by ``malloc_trim(0)``, which ``MemoryTrimmer`` calls shortly after a large request, off the request's
thread. ``TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1`` would return the pool too, but then every request pages in
fresh memory for its temporaries: 4 times slower at 1,000,000 items (bench/serve.py, docs/serving.md).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("modelserver")

TRIM_ROWS = 64  # requests of this many rows or more are followed by a trim
TRIM_DELAY_SECONDS = 0.1  # lets the answer be sent and its buffers freed first


def glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on a C library without it (musl, macOS)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # ctypes releases the GIL during the call
    except (OSError, AttributeError):
        return None


class MemoryTrimmer:
    """Calls ``trim(0)`` on a background thread once a large request has finished.

    Requests that finish while a trim is pending share it, so a burst of large requests costs one
    trim after it (a few milliseconds of one core, measured), not one per request.

    Args:
        trim: the trim function (default glibc's); None turns the trimmer off.
        min_rows: requests with fewer rows do not ask for a trim.
        delay: seconds between a request finishing and the trim.
    """

    def __init__(
        self,
        trim: Callable[[int], int] | None = None,
        min_rows: int = TRIM_ROWS,
        delay: float = TRIM_DELAY_SECONDS,
    ):
        self._trim = trim
        self.min_rows = min_rows
        self._delay = delay
        self._pending = threading.Event()
        self._stopped = threading.Event()
        self.trims = 0
        self._thread: threading.Thread | None = None
        if trim is not None:
            self._thread = threading.Thread(target=self._work, name="malloc-trim", daemon=True)
            self._thread.start()

    def request_done(self, rows: int) -> None:
        """Notes a finished request of ``rows`` rows."""
        if self._thread is not None and rows >= self.min_rows:
            self._pending.set()

    def stop(self) -> None:
        self._stopped.set()
        self._pending.set()
        if self._thread is not None:
            self._thread.join()

    def _work(self) -> None:
        while True:
            self._pending.wait()
            if self._stopped.wait(self._delay):
                return
            self._pending.clear()
            try:
                self._trim(0)
                self.trims += 1
            except Exception:  # noqa: BLE001 - a failed trim costs memory, not requests.
                log.exception("modelserver: malloc_trim failed")
