"""Rows on their way through the checks, and the dead letters of those that fail one.

Shared by the parser (``sources``) and the checks (``checks``), which carry rows in ``batches``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import apache_beam as beam

VALID, DEAD = "valid", "dead"
NAMESPACE = "msrec.preprocess"
RAW_CHARS = 4096  # of a bad row's text kept in its dead letter (its length is kept whole)
DETAIL_CHARS = 512


class Row(NamedTuple):
    """A parsed row on its way through the checks."""

    path: str
    line: int
    raw: str
    record: Any


def dead_letter(
    kind: str, path: str, line: int, raw: str, reason: str, detail: str = "", length: int | None = None
) -> dict[str, Any]:
    """The dead-letter record: enough to find and fix the row, and bounded however long it is.

    ``raw`` keeps the row's first ``RAW_CHARS`` characters and ``raw_length`` its whole length
    (characters; bytes for a ``line_too_long`` row, which is never decoded).
    """
    return {
        "source": kind,
        "file": path,
        "line": line,
        "raw": raw[:RAW_CHARS],
        "raw_length": len(raw) if length is None else length,
        "reason": reason,
        "detail": detail if len(detail) <= DETAIL_CHARS else detail[:DETAIL_CHARS] + "...",
    }


def reject(
    kind: str, row: Row, reason: str, detail: str = "", length: int | None = None
) -> beam.pvalue.TaggedOutput:
    """Counts a row that failed a check and returns its dead letter on the ``dead`` output."""
    beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.dead_letter").inc()
    beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.dead_letter.{reason}").inc()
    letter = dead_letter(kind, row.path, row.line, row.raw, reason, detail, length)
    return beam.pvalue.TaggedOutput(DEAD, letter)
