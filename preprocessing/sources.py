"""Reads one raw source into canonical records, routing bad rows to dead letters.

Files are matched through Beam's FileSystems (local paths and ``gs://`` alike)
and read line by line so that each dead letter can name its file and line.

    files --ParseFile--> rows --DropDuplicates--> rows --CheckReferences--> records
              |                    |                        |
              +--------------------+------------------------+--> dead letters

A row that parses is a ``Row`` (where it came from, its text, its record) until
every check has passed; only then is it counted ``valid`` and unwrapped. Every check
on a row's own values (times, weights, ids) runs in ``ParseFile``, before the
de-duplication, so a bad copy of a row can never be the one kept.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator, Mapping

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from msrec import source_config as sources_config
from msrec.source_config import SourceSpec, resolve
from preprocessing import batches, lines, progress, records
from preprocessing.errors import EmptySourceError, MissingSourceError
from preprocessing.rows import DEAD, NAMESPACE, RAW_CHARS, VALID, Row, dead_letter, reject  # noqa: F401 (re-exported)

BATCHED = ("interactions",)  # sources carried as columnar ``batches.Batch`` es rather than one Row each


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
    """Parses every line of one matched file; bad lines go to the ``dead`` output."""

    def __init__(self, kind: str, spec: SourceSpec, clock: progress.Clock | None = None):
        self._kind, self._spec, self._clock = kind, spec, clock
        self._read = beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.read")

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        if self._kind not in BATCHED:
            yield from self._rows(readable)
            return
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
                    text = self._decode(line)
                except records.BadRecord as err:  # shown as well as undecodable bytes can be
                    self._read.inc()
                    raw, length = line.text.decode("utf-8", "replace"), line.length if line.cut else None
                    yield reject(self._kind, Row(path, number, raw, None), err.reason, err.detail, length)
                    continue
                if number == 1 and spec.header and spec.format == "csv":
                    header = [c.strip() for c in records.split_columns(text, spec)]
                    continue
                if not text.strip():
                    continue  # blank lines (e.g. a trailing one) are not rows
                self._read.inc()
                try:
                    record = records.parse_row(self._kind, spec, text, header)
                except records.BadRecord as err:
                    yield self._reject(path, number, text, err)
                    continue
                yield Row(path, number, text, record)
                rows += 1
        if self._clock is not None:
            self._clock.say(f"{self._kind}: {os.path.basename(path)} read, {rows:,} parsed rows")

    def _decode(self, line: lines.Line) -> str:
        """The line's text; ``BadRecord`` if it is too long to be a row or not in the encoding."""
        if line.cut:
            detail = f"{line.length:,} bytes; a row may have {lines.MAX_LINE_BYTES:,}"
            raise records.BadRecord("line_too_long", detail)
        try:
            return line.text.decode(self._spec.encoding)
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


def _first_of_duplicates(kind: str, raw: str, rows: Any) -> Iterator[Any]:
    rows = sorted(rows, key=lambda r: (r.path, r.line))
    yield rows[0]
    for row in rows[1:]:
        yield reject(kind, row, "duplicate", f"same as {rows[0].path}:{rows[0].line}")


class DropDuplicates(beam.PTransform):
    """Keeps the first of identical rows (by file, then line); the others are dead letters.

    The grouping by row text also spreads the rows of each file across workers,
    which the single-file read would otherwise leave on one.
    """

    def __init__(self, kind: str):
        super().__init__()
        self._kind = kind

    def expand(self, rows):
        kind = self._kind
        return (
            rows
            | "ByText" >> beam.Map(lambda r: (r.raw, r))
            | "Group" >> beam.GroupByKey()
            | "First"
            >> beam.FlatMap(lambda kv: _first_of_duplicates(kind, *kv)).with_outputs(DEAD, main=VALID)
        )


def _known_or_dead(kind: str, field: str, target: str, joined: Any) -> Iterator[Any]:
    value, grouped = joined
    if grouped["known"]:
        yield from grouped["rows"]
        return
    for row in grouped["rows"]:
        yield reject(kind, row, "unknown_reference", f"{field}={value!r} is not in {target}")


class CheckReferences(beam.PTransform):
    """Dead-letters rows whose ``references`` name an id the referenced source does not define.

    Input: the source's rows. Output: ``{valid: rows, dead: dead letters}``; a row
    that breaks two references is dead-lettered once, for the first.

    Args:
      kind: the source the rows come from.
      spec: its config; ``spec.references`` maps field -> referenced source.
      known: for each referenced field, a PCollection of the ids its source defines
        (distinct). The check is a join, so it scales with the data, not a worker's memory.
    """

    def __init__(self, kind: str, spec: SourceSpec, known: Mapping[str, Any]):
        super().__init__()
        self._kind, self._spec, self._known = kind, spec, known

    def expand(self, rows):
        kind, dead = self._kind, []
        for field, target in sorted(self._spec.references.items()):
            keyed = rows | f"Key_{field}" >> beam.Map(
                lambda r, f=field: (records.referenced_id(kind, r.record, f), r)
            )
            ids = self._known[field] | f"KeyIds_{field}" >> beam.Map(lambda i: (i, True))
            checked = (
                {"rows": keyed, "known": ids}
                | f"Join_{field}" >> beam.CoGroupByKey()
                | f"Check_{field}"
                >> beam.FlatMap(lambda kv, f=field, t=target: _known_or_dead(kind, f, t, kv)).with_outputs(
                    DEAD, main=VALID
                )
            )
            rows = checked[VALID]
            dead.append(checked[DEAD])
        return {VALID: rows, DEAD: dead | "AllDead" >> beam.Flatten(pipeline=rows.pipeline)}


def _valid_batch(kind: str, rows: batches.Batch) -> batches.Batch:
    beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.valid").inc(len(rows))
    return rows.without_text()  # every check has passed: the text would only weigh on the shuffles


def _valid(kind: str, row: Row) -> Any:
    beam.metrics.Metrics.counter(NAMESPACE, f"{kind}.valid").inc()
    return row.record


class ReadSource(beam.PTransform):
    """``PBegin -> {valid: Rows, dead: dead-letter dicts}``: parsed and de-duplicated.

    A ``BATCHED`` source's valid output holds ``batches.Batch`` es of rows instead.

    ``check_sources`` runs the reference checks and turns the rows into records.
    """

    def __init__(self, kind: str, spec: SourceSpec, input_dir: str, clock: progress.Clock | None = None):
        super().__init__()
        self._kind, self._spec, self._input_dir, self._clock = kind, spec, input_dir, clock

    def expand(self, pbegin):
        dedup = batches.DropDuplicates if self._kind in BATCHED else DropDuplicates
        parsed = (
            pbegin
            | "Match" >> fileio.MatchFiles(resolve(self._input_dir, self._spec))
            | "Open" >> fileio.ReadMatches()
            | "Parse"
            >> beam.ParDo(ParseFile(self._kind, self._spec, self._clock)).with_outputs(DEAD, main=VALID)
        )
        unique = parsed[VALID] | "Unique" >> dedup(self._kind)
        return {VALID: unique[VALID], DEAD: (parsed[DEAD], unique[DEAD]) | "AllDead" >> beam.Flatten()}


def check_sources(read: Mapping[str, Any], specs: Mapping[str, SourceSpec]) -> dict[str, dict[str, Any]]:
    """Runs every source's reference checks and counts what survives as ``valid``.

    Args:
      read: kind -> the ``ReadSource`` output of that source.
      specs: kind -> its config.

    Returns:
      kind -> ``{valid: records, dead: dead letters}``, with ``read = valid + dead-lettered``.
    """
    ids = {}  # (target, id kind) -> distinct ids, built once however many fields reference them

    def known(kind: str, field: str, target: str):
        key = (target, sources_config.id_kind(kind, field))
        if key not in ids:
            if target in BATCHED:
                attribute = sources_config.id_attribute(target, sources_config.defining_field(*key))
                defined = read[target][VALID] | f"Ids_{target}_{key[1]}" >> beam.FlatMap(
                    lambda b, a=attribute: set(getattr(b, a))
                )
            else:
                defined = read[target][VALID] | f"Ids_{target}_{key[1]}" >> beam.Map(
                    lambda r, k=key: records.defined_id(k[0], r.record, k[1])
                )
            ids[key] = defined | f"Distinct_{target}_{key[1]}" >> beam.Distinct()
        return ids[key]

    out = {}
    for kind, spec in specs.items():
        rows, dead = read[kind][VALID], [read[kind][DEAD]]
        if kind in BATCHED:
            for field, target in sorted(spec.references.items()):
                checked = rows | f"References_{kind}_{field}" >> batches.CheckReference(
                    kind, field, target, known(kind, field, target)
                )
                rows, dead = checked[VALID], dead + [checked[DEAD]]
            out[kind] = {
                VALID: rows | f"Valid_{kind}" >> beam.Map(lambda b, k=kind: _valid_batch(k, b)),
                DEAD: dead | f"Dead_{kind}" >> beam.Flatten(),
            }
            continue
        if spec.references:
            fields = {f: known(kind, f, t) for f, t in spec.references.items()}
            checked = rows | f"References_{kind}" >> CheckReferences(kind, spec, fields)
            rows, dead = checked[VALID], dead + [checked[DEAD]]
        out[kind] = {
            VALID: rows | f"Valid_{kind}" >> beam.Map(lambda r, k=kind: _valid(k, r)),
            DEAD: dead | f"Dead_{kind}" >> beam.Flatten(),
        }
    return out
