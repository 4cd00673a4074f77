"""Measuring a job whose work runs in several process trees: the command's own, and services it talks to.

``common.run_measured`` samples the command's process tree. A job sent to an engine's services (a Spark
master, worker and executors, a job server, an SDK worker pool) also works in their trees, started
before it: ``run_measured`` here sums the resident memory of the command's tree and of every ``roots``
tree each ``SAMPLE_SECONDS`` (``tree_peak_mb``), and keeps the largest single process's high-water mark
(``VmHWM``, which the kernel keeps per process, so no spike between samples is missed while the process
lives; ``/usr/bin/time -v`` adds the command's own processes that exited between samples).
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Iterable

from bench import common

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def descendants(roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them, from /proc (no psutil here)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue  # exited while we looked
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def sample(pids: Iterable[int]) -> tuple[float, float]:
    """The summed resident memory of ``pids`` and the largest one's high-water mark, in MB."""
    total, largest = 0.0, 0.0
    for pid in pids:
        try:
            total += int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_MB
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        largest = max(largest, int(found[1]) / 1024 if found else 0.0)
    return total, largest


def run_measured(
    command: list[str],
    log_path: str,
    timeout_s: float,
    memory_limit_mb: float,
    roots: Iterable[int] = (),
) -> common.Measured:
    """Runs ``command`` (output to ``log_path``) and samples it with the ``roots`` trees; kills the
    command's process group at a limit (never the services: they are not its children)."""
    roots = list(roots)
    return common.run_measured(
        command,
        log_path,
        timeout_s,
        memory_limit_mb,
        sample=lambda pid: sample(descendants([pid, *roots])),
    )
