"""Vocabularies and popularity, counted on TRAIN only.

A vocabulary file has one value per line, most frequent first (ties by value),
which is the order ``StringLookup`` indexes them in. Values seen fewer than the
configured minimum are left out, so they fall into the OOV bucket.
"""

from __future__ import annotations

from typing import Iterable

import apache_beam as beam

from msrec import paths


def ordered(counts: Iterable[tuple[str, int]], min_count: int = 1) -> list[tuple[str, int]]:
    """Sorts ``(value, count)`` by count descending then value, dropping rare ones."""
    kept = [(value, n) for value, n in counts if n >= min_count and value]
    return sorted(kept, key=lambda vn: (-vn[1], vn[0]))


class WriteVocabulary(beam.PTransform):
    """``(value, count)`` pairs -> ``<data>/vocab/<name>.txt`` (and counts, if asked).

    Returns a one-element PCollection with ``(name, size)`` for the metadata.
    """

    def __init__(self, data_dir: str, name: str, min_count: int = 1, counts_path: str | None = None):
        super().__init__()
        self._data_dir, self._name = data_dir, name
        self._min_count, self._counts_path = min_count, counts_path

    def expand(self, counts):
        min_count = self._min_count
        rows = (
            counts
            | "Sum" >> beam.CombinePerKey(sum)
            | "Collect" >> beam.combiners.ToList()
            | "Order" >> beam.Map(lambda pairs: ordered(pairs, min_count))
        )
        _write_lines(
            rows | "Values" >> beam.Map(lambda r: [v for v, _ in r]),
            paths.vocab_file(self._data_dir, self._name),
            "WriteValues",
        )
        if self._counts_path:
            _write_lines(
                rows | "Counts" >> beam.Map(lambda r: [str(n) for _, n in r]),
                self._counts_path,
                "WriteCounts",
            )
        name = self._name
        return rows | "Size" >> beam.Map(lambda r: (name, len(r)))


def _write_lines(lines, path: str, label: str) -> None:
    # One element holding the whole file keeps the order and the exact file name.
    (
        lines
        | f"{label}Join" >> beam.Map(lambda values: "\n".join(values))
        | label >> beam.io.WriteToText(path, num_shards=1, shard_name_template="")
    )
