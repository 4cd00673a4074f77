"""Reads one raw source into canonical records, routing bad rows to dead letters.

Files are matched through Beam's FileSystems (local paths and ``gs://`` alike)
and read line by line so that each dead letter can name its file and line.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from msrec.sources import SourceSpec, resolve
from preprocessing import records

VALID, DEAD = "valid", "dead"
NAMESPACE = "msrec.preprocess"


def dead_letter(kind: str, path: str, line: int, raw: str, reason: str, detail: str = "") -> dict[str, Any]:
    """The dead-letter record: enough to find and fix the row."""
    return {"source": kind, "file": path, "line": line, "raw": raw, "reason": reason, "detail": detail}


def check_source(kind: str, spec: SourceSpec, input_dir: str) -> None:
    """Fails before any work starts when a source is missing or empty."""
    pattern = resolve(input_dir, spec)
    matches = FileSystems.match([pattern])[0].metadata_list
    if not matches:
        raise FileNotFoundError(f"source {kind!r}: no file matches {pattern}")
    if all(m.size_in_bytes == 0 for m in matches):
        raise ValueError(f"source {kind!r}: {pattern} is empty")


class ParseFile(beam.DoFn):
    """Parses every line of one matched file; bad lines go to the ``dead`` output."""

    def __init__(self, kind: str, spec: SourceSpec):
        self._kind, self._spec = kind, spec
        self._read = beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.read")
        self._valid = beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.valid")
        self._dead = beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.dead_letter")

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        if self._spec.format == "parquet":
            yield from self._parquet(readable)
            return
        path, spec, header = readable.metadata.path, self._spec, None
        with readable.open() as f:
            for number, raw_bytes in enumerate(f, start=1):
                raw_bytes = raw_bytes.rstrip(b"\r\n")
                try:
                    line = raw_bytes.decode(spec.encoding)
                except UnicodeDecodeError as err:
                    yield self._reject(
                        path,
                        number,
                        raw_bytes.decode("utf-8", "replace"),
                        records.BadRecord("bad_encoding", str(err)),
                    )
                    continue
                if number == 1 and spec.header and spec.format == "csv":
                    header = [c.strip() for c in records.split_columns(line, spec)]
                    continue
                if not line.strip():
                    continue  # blank lines (e.g. a trailing one) are not rows
                self._read.inc()
                try:
                    record = records.parse_row(self._kind, spec, line, header)
                except records.BadRecord as err:
                    yield self._reject(path, number, line, err)
                    continue
                self._valid.inc()
                yield record

    def _parquet(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        """Rows of a Parquet file as column-name dicts; the "line" of a dead letter is the row number."""
        import pyarrow.parquet as pq

        path = readable.metadata.path
        with readable.open() as f:
            table = pq.ParquetFile(f)
            number = 0
            for batch in table.iter_batches(batch_size=65536):
                for row in batch.to_pylist():
                    number += 1
                    self._read.inc()
                    try:
                        record = records.parse_fields(self._kind, self._spec, row)
                    except records.BadRecord as err:
                        yield self._reject(path, number, json.dumps(row, default=str), err)
                        continue
                    self._valid.inc()
                    yield record

    def _reject(self, path: str, number: int, raw: str, err: records.BadRecord) -> Any:
        if err.reason == "bad_encoding":
            self._read.inc()
        self._dead.inc()
        beam.metrics.Metrics.counter(NAMESPACE, f"{self._kind}.dead_letter.{err.reason}").inc()
        letter = dead_letter(self._kind, path, number, raw, err.reason, err.detail)
        return beam.pvalue.TaggedOutput(DEAD, letter)


class ReadSource(beam.PTransform):
    """``PBegin -> {valid: records, dead: dead-letter dicts}`` for one source."""

    def __init__(self, kind: str, spec: SourceSpec, input_dir: str):
        super().__init__()
        self._kind, self._spec, self._input_dir = kind, spec, input_dir

    def expand(self, pbegin):
        parsed = (
            pbegin
            | "Match" >> fileio.MatchFiles(resolve(self._input_dir, self._spec))
            | "Open" >> fileio.ReadMatches()
            | "Parse" >> beam.ParDo(ParseFile(self._kind, self._spec)).with_outputs(DEAD, main=VALID)
        )
        # Reading is one file per worker; reshuffle so the work after it spreads out.
        return {VALID: parsed[VALID] | "Spread" >> beam.Reshuffle(), DEAD: parsed[DEAD]}
