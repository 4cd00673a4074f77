"""Reads the raw sources into canonical records, routing bad rows to dead letters.

Files are matched through Beam's FileSystems (local paths and ``gs://`` alike)
and read line by line so that each dead letter can name its file and line.

    files --ParseFile--> rows --DropDuplicates--> rows --CheckReference--> records
              |                    |                        |
              +--------------------+------------------------+--> dead letters

Rows travel in columnar ``batches.Batch`` es (where each came from, its text, its record) until
every check (``checks``) has passed; only then are they counted ``valid`` and, except for the
interactions, unwrapped into one record per element. Every check on a row's own values (times,
weights, ids) runs in ``ParseFile``, before the de-duplication, so a bad copy of a row can never be
the one kept. ``ReadSources`` is the pipeline's first step: every source read and checked, and the
dead letters written.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator, Mapping

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from msrec import paths
from msrec import source_config as sources_config
from msrec.source_config import SourceSpec, resolve
from preprocessing import batches, checks, lines, progress, records
from preprocessing.errors import EmptySourceError, MissingSourceError
from preprocessing.rows import DEAD, NAMESPACE, VALID, Row, reject

BATCHED = ("interactions",)  # sources whose valid records stay ``batches.Batch`` es: the large one


def check_source(kind: str, spec: SourceSpec, input_dir: str) -> None:
    """Fails before any work starts when a source is missing or empty.

    Raises:
      MissingSourceError: no file matches the source's path.
      EmptySourceError: every file that matches is empty.
    """
    pattern = resolve(input_dir, spec)
    matches = FileSystems.match([pattern])[0].metadata_list
    if not matches:
        raise MissingSourceError(f"source {kind!r}: no file matches {pattern}", kind, pattern)
    if all(m.size_in_bytes == 0 for m in matches):
        raise EmptySourceError(f"source {kind!r}: {pattern} is empty", kind, pattern)


class ParseFile(beam.DoFn):
    """Parses every line of one matched file into ``Batch`` es of rows; bad lines go to ``dead``."""

    def __init__(self, kind: str, spec: SourceSpec, clock: progress.Clock | None = None):
        self._kind, self._spec, self._clock = kind, spec, clock
        self._read = beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.read")

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        gathered = []
        for out in self._rows(readable):
            if isinstance(out, Row):
                gathered.append(out)
                if len(gathered) == batches.BATCH_ROWS:
                    yield batches.Batch.from_rows(gathered)
                    gathered = []
            else:
                yield out
        if gathered:
            yield batches.Batch.from_rows(gathered)

    def _rows(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        if self._spec.format == "parquet":
            yield from self._parquet(readable)
            return
        path, spec, header = readable.metadata.path, self._spec, None
        rows = 0
        with readable.open() as f:
            for number, line in enumerate(lines.read_lines(f), start=1):
                if self._clock is not None and progress.due(number):
                    self._clock.say(f"{self._kind}: {number:,} lines read from {os.path.basename(path)}")
                try:
                    decoded = self._decode(line)
                except records.BadRecord as err:  # shown as well as undecodable bytes can be
                    self._read.inc()
                    raw, length = line.data.decode("utf-8", "replace"), line.length if line.cut else None
                    yield reject(self._kind, Row(path, number, raw, None), err.reason, err.detail, length)
                    continue
                if number == 1 and spec.header and spec.format == "csv":
                    header = [c.strip() for c in records.split_columns(decoded, spec)]
                    continue
                if not decoded.strip():
                    continue  # blank lines (e.g. a trailing one) are not rows
                self._read.inc()
                try:
                    record = records.parse_row(self._kind, spec, decoded, header)
                except records.BadRecord as err:
                    yield self._reject(path, number, decoded, err)
                    continue
                yield Row(path, number, decoded, record)
                rows += 1
        if self._clock is not None:
            self._clock.say(f"{self._kind}: {os.path.basename(path)} read, {rows:,} parsed rows")

    def _decode(self, line: lines.Line) -> str:
        """The line, decoded; ``BadRecord`` if it is too long to be a row or not in the encoding."""
        if line.cut:
            detail = f"{line.length:,} bytes; a row may have {lines.MAX_LINE_BYTES:,}"
            raise records.BadRecord("line_too_long", detail)
        try:
            return line.data.decode(self._spec.encoding)
        except UnicodeDecodeError as err:
            raise records.BadRecord("bad_encoding", str(err)) from None

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
                    raw = json.dumps(row, default=str, sort_keys=True)
                    try:
                        record = records.parse_fields(self._kind, self._spec, row)
                    except records.BadRecord as err:
                        yield self._reject(path, number, raw, err)
                        continue
                    yield Row(path, number, raw, record)

    def _reject(self, path: str, number: int, raw: str, err: records.BadRecord) -> Any:
        return reject(self._kind, Row(path, number, raw, None), err.reason, err.detail)


def valid(rows: batches.Batch, kind: str) -> Iterator[Any]:
    """Counts rows that passed every check: a ``BATCHED`` source's batch, without the raw text that
    would only weigh on the shuffles from here on, or else the batch's records one by one."""
    beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.valid").inc(len(rows))
    if kind in BATCHED:
        yield rows.without_raw()
    else:
        yield from rows.records()


class ReadSource(beam.PTransform):
    """``PBegin -> {valid: Batches, dead: dead-letter dicts}``: parsed and de-duplicated.

    ``check_sources`` runs the reference checks and turns the rows into records.
    """

    def __init__(self, kind: str, spec: SourceSpec, input_dir: str, clock: progress.Clock | None = None):
        super().__init__()
        self._kind, self._spec, self._input_dir, self._clock = kind, spec, input_dir, clock

    def expand(self, pbegin):
        parsed = (
            pbegin
            | "Match" >> fileio.MatchFiles(resolve(self._input_dir, self._spec))
            | "Open" >> fileio.ReadMatches()
            | "Parse"
            >> beam.ParDo(ParseFile(self._kind, self._spec, self._clock)).with_outputs(DEAD, main=VALID)
        )
        unique = parsed[VALID] | "Unique" >> checks.DropDuplicates(self._kind)
        return {VALID: unique[VALID], DEAD: (parsed[DEAD], unique[DEAD]) | "AllDead" >> beam.Flatten()}


def check_sources(read: Mapping[str, Any], specs: Mapping[str, SourceSpec]) -> dict[str, dict[str, Any]]:
    """Runs every source's reference checks and counts what survives as ``valid``.

    A row that breaks two references is dead-lettered once, for the first field in sorted order.

    Args:
      read: kind -> the ``ReadSource`` output of that source.
      specs: kind -> its config.

    Returns:
      kind -> ``{valid: records, dead: dead letters}``, with ``read = valid + dead-lettered``;
      a ``BATCHED`` source's records stay in batches.
    """
    ids = {}  # (target, id kind) -> distinct ids, built once however many fields reference them

    def known(kind: str, field: str, target: str):
        key = (target, sources_config.id_kind(kind, field))
        if key not in ids:
            attribute = sources_config.id_attribute(target, sources_config.defining_field(*key))
            ids[key] = (
                read[target][VALID]
                | f"Ids_{target}_{key[1]}" >> beam.FlatMap(lambda b, a=attribute: set(getattr(b, a)))
                | f"Distinct_{target}_{key[1]}" >> beam.Distinct()
            )
        return ids[key]

    out = {}
    for kind, spec in specs.items():
        rows, dead = read[kind][VALID], [read[kind][DEAD]]
        for field, target in sorted(spec.references.items()):
            checked = rows | f"References_{kind}_{field}" >> checks.CheckReference(
                kind, field, target, known(kind, field, target)
            )
            rows, dead = checked[VALID], dead + [checked[DEAD]]
        out[kind] = {
            VALID: rows | f"Valid_{kind}" >> beam.FlatMap(valid, kind),
            DEAD: dead | f"Dead_{kind}" >> beam.Flatten(),
        }
    return out


class ReadSources(beam.PTransform):
    """``PBegin`` -> ``{kind: valid records}`` for every configured source; dead letters written.

    The pipeline's first step: each source read and de-duplicated (``ReadSource``), its references
    checked (``check_sources``), and every dead letter written to ``<dead_letter_dir>/part*.jsonl``.
    A ``BATCHED`` source's records stay in ``batches.Batch`` es.
    """

    def __init__(
        self,
        specs: Mapping[str, SourceSpec],
        input_dir: str,
        dead_letter_dir: str,
        clock: progress.Clock | None = None,
    ):
        super().__init__()
        self._specs, self._input_dir, self._dead_dir, self._clock = specs, input_dir, dead_letter_dir, clock

    def expand(self, pbegin):
        read = {
            kind: pbegin | f"Read_{kind}" >> ReadSource(kind, spec, self._input_dir, self._clock)
            for kind, spec in self._specs.items()
        }
        checked = check_sources(read, self._specs)
        (
            tuple(c[DEAD] for c in checked.values())
            | "AllDead" >> beam.Flatten()
            | "DeadJson" >> beam.Map(json.dumps, ensure_ascii=False)
            | "WriteDead"
            >> beam.io.WriteToText(
                paths.join(self._dead_dir, "part"), file_name_suffix=".jsonl", num_shards=1
            )
        )
        return {kind: c[VALID] for kind, c in checked.items()}
