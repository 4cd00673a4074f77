"""The statistics summary: distributions worth a look before training.

Counts are bucketed by powers of two inside Beam (a ``CombineFn`` per
distribution), so the summary costs one small combine however large the data.
The driver turns the JSON into a text report and a PNG of histograms.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import apache_beam as beam


def bucket(n: int) -> int:
    """0 for 0, else the exponent of the largest power of two <= n (1 -> 0, 2..3 -> 1, ...) plus one."""
    return 0 if n <= 0 else n.bit_length()


def bucket_label(b: int) -> str:
    return "0" if b == 0 else (f"{1 << (b - 1)}" if b == 1 else f"{1 << (b - 1)}-{(1 << b) - 1}")


def by_value(buckets: dict[str, int]) -> list[tuple[str, int]]:
    """Buckets in value order (``1, 2-3, 16-31``), whatever order a JSON round trip left them in."""
    return sorted(buckets.items(), key=lambda item: int(item[0].split("-")[0]))


class SummarizeCounts(beam.CombineFn):
    """count, total, min, max and power-of-two buckets of non-negative integers."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"count": 0, "total": 0, "min": None, "max": None, "buckets": {}}

    def add_input(self, acc: dict[str, Any], n: int) -> dict[str, Any]:
        acc["count"] += 1
        acc["total"] += n
        acc["min"] = n if acc["min"] is None else min(acc["min"], n)
        acc["max"] = n if acc["max"] is None else max(acc["max"], n)
        b = bucket(n)
        acc["buckets"][b] = acc["buckets"].get(b, 0) + 1
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        out = self.create_accumulator()
        for acc in accs:
            if not acc["count"]:
                continue
            out["count"] += acc["count"]
            out["total"] += acc["total"]
            out["min"] = acc["min"] if out["min"] is None else min(out["min"], acc["min"])
            out["max"] = acc["max"] if out["max"] is None else max(out["max"], acc["max"])
            for b, c in acc["buckets"].items():
                out["buckets"][b] = out["buckets"].get(b, 0) + c
        return out

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        mean = acc["total"] / acc["count"] if acc["count"] else 0.0
        buckets = {bucket_label(b): acc["buckets"][b] for b in sorted(acc["buckets"])}
        return {
            "count": acc["count"],
            "mean": round(mean, 3),
            "min": acc["min"],
            "max": acc["max"],
            "buckets": buckets,
        }


class Distribution(beam.PTransform):
    """A PCollection of ints -> one ``(name, histogram)`` pair."""

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    def expand(self, values):
        name = self._name
        return (
            values
            | "Histogram" >> beam.CombineGlobally(SummarizeCounts())
            | "Name" >> beam.Map(lambda h: (name, h))
        )


def report(statistics: dict[str, Any], counts: dict[str, Any]) -> str:
    """A short text report of the summary."""
    users, items = counts.get("users", 0), counts.get("catalog_items", 0)
    train = counts.get("train_interactions", 0)
    density = train / (users * items) if users and items else 0.0
    lines = [
        f"users {users:,}  catalog items {items:,}  train interactions {train:,}  "
        f"density {density:.5f} (sparsity {1 - density:.5f})"
    ]
    for name, h in statistics.items():
        lines.append(f"{name}: n={h['count']:,} mean={h['mean']} min={h['min']} max={h['max']}")
        lines.append("  " + "  ".join(f"{label}:{n}" for label, n in by_value(h["buckets"])))
    return "\n".join(lines) + "\n"


def plot(statistics: dict[str, Any], path: str) -> None:
    """One bar chart per distribution, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(statistics)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        buckets = by_value(statistics[name]["buckets"])
        ax.bar(range(len(buckets)), [n for _, n in buckets], color="#4C72B0")
        ax.set_xticks(range(len(buckets)), [label for label, _ in buckets], rotation=60, fontsize=7)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dumps(statistics: dict[str, Any]) -> str:
    return json.dumps(statistics, indent=2, sort_keys=True)
