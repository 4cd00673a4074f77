"""What the CLI shows people: a progress bar, the per-source report, metric tables."""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, TextIO

METRIC_KEYS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR")


class Bar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr, width: int = 30):
        self.label, self.total, self.stream, self.width = label, max(total, 1), stream, width
        self._drawn, self._started = 0.0, time.time()

    def update(self, done: int, total: int | None = None) -> None:
        self.total = max(total or self.total, 1)
        now = time.time()
        if now - self._drawn < 0.1 and done < self.total:
            return
        self._drawn = now
        frac = min(done / self.total, 1.0)
        filled = int(frac * self.width)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done:,}/{self.total:,} {now - self._started:5.1f}s"
        )
        self.stream.flush()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stream.write("\n")
        self.stream.flush()


def print_source_report(report: Mapping[str, Mapping[str, Any]], stream: TextIO = sys.stdout) -> None:
    """read = valid + dead-lettered, per source, with the reasons."""
    print(f"{'source':<14}{'read':>10}{'valid':>10}{'dead':>8}  reasons", file=stream)
    for kind, r in report.items():
        reasons = ", ".join(f"{k}={v}" for k, v in r["reasons"].items()) or "-"
        print(f"{kind:<14}{r['read']:>10,}{r['valid']:>10,}{r['dead_letter']:>8,}  {reasons}", file=stream)


def print_metrics(systems: Mapping[str, Mapping[str, float]], stream: TextIO = sys.stdout) -> None:
    """One row per system, PROTOCOL.md's metrics as columns."""
    print(f"{'system':<14}" + "".join(f"{k:>9}" for k in METRIC_KEYS) + f"{'users':>8}", file=stream)
    for name, m in systems.items():
        print(
            f"{name:<14}" + "".join(f"{m[k]:>9.4f}" for k in METRIC_KEYS) + f"{m['num_users']:>8}",
            file=stream,
        )
