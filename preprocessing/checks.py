"""The checks every source's rows pass after parsing: one rule each, for every source.

    parsed Batches --DropDuplicates--> unique rows --CheckReference (one per field)--> valid rows
                          |                                  |
                          +----------------------------------+--> dead letters

Both checks shuffle ``batches.Batch`` es cut into hash buckets of their key (the row's text, the
referenced id) and apply their rule to a bucket's columns at once, so they cost the same per row
for the 25 M interactions of the benchmark and the few thousand rows of an item table.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import pandas as pd

from msrec import source_config as sources
from preprocessing.batches import Batch, bucket_of, packed_buckets, unpacked
from preprocessing.rows import DEAD, VALID, Row, reject


def dead_letters(kind: str, rows: Batch, reason: str, details: Sequence[str]) -> Iterator[Any]:
    """One counted dead letter per row of ``rows``."""
    for path, line, raw, detail in zip(rows.path, rows.line.tolist(), rows.raw, details, strict=True):
        yield reject(kind, Row(path, line, raw, None), reason, detail)


def first_of_duplicates(kind: str, batches: Iterable[Batch]) -> Iterator[Any]:
    """Keeps the first of rows with identical text, by file then line; the others are dead letters.

    ``batches``: all rows of one text bucket, so identical rows are together.
    """
    rows = Batch.concat(batches)
    if not len(rows):
        return
    frame = pd.DataFrame({"path": rows.path, "line": rows.line, "raw": rows.raw})
    order = frame.sort_values(["path", "line"], kind="stable").index.to_numpy()
    ordered = rows.take(order)
    repeated = pd.Series(ordered.raw).duplicated(keep="first").to_numpy()
    yield ordered.take(~repeated)
    if repeated.any():
        first = pd.Series(np.arange(len(ordered))).groupby(ordered.raw).transform("first").to_numpy()
        where = [f"same as {ordered.path[i]}:{ordered.line[i]}" for i in first[repeated]]
        yield from dead_letters(kind, ordered.take(repeated), "duplicate", where)


def known_or_dead(kind: str, field: str, target: str, groups: dict) -> Iterator[Any]:
    """Rows of one id bucket whose ``field`` the target defines; the others are dead letters."""
    blobs = list(groups["rows"])
    if not blobs:  # ids without a row in this bucket
        return
    rows, attribute = Batch.concat(map(unpacked, blobs)), sources.id_attribute(kind, field)
    ids = getattr(rows, attribute)
    known = pd.Series(ids).isin(pd.Index(list(groups["known"]))).to_numpy()
    yield rows.take(known)
    if not known.all():
        unknown = rows.take(~known)
        details = [f"{field}={value!r} is not in {target}" for value in getattr(unknown, attribute)]
        yield from dead_letters(kind, unknown, "unknown_reference", details)


class DropDuplicates(beam.PTransform):
    """``Batch`` es -> ``{valid: Batches, dead: dead letters}``: of identical rows, the first by file
    then line is kept and the others are dead letters naming it.

    The grouping by the row's text also spreads the rows of each file across workers, which the
    single-file read would otherwise leave on one.
    """

    def __init__(self, kind: str):
        super().__init__()
        self._kind = kind

    def expand(self, batches):
        kind = self._kind
        return (
            batches
            | "ByText" >> beam.FlatMap(packed_buckets, "raw")
            | "Group" >> beam.GroupByKey()
            | "First"
            >> beam.FlatMap(lambda kv: first_of_duplicates(kind, map(unpacked, kv[1]))).with_outputs(
                DEAD, main=VALID
            )
        )


class CheckReference(beam.PTransform):
    """``Batch`` es -> ``{valid, dead}``: rows whose ``field`` names an id of ``known``.

    Args:
      kind: the source the rows come from.
      field: the checked field, e.g. ``item_id``.
      target: the source that must define its value (named in the dead letters).
      known: a PCollection of the distinct ids ``target`` defines. The check is a join, so it
        scales with the data, not a worker's memory.
    """

    def __init__(self, kind: str, field: str, target: str, known):
        super().__init__()
        self._kind, self._field, self._target, self._known = kind, field, target, known

    def expand(self, batches):
        kind, field, target = self._kind, self._field, self._target
        attribute = sources.id_attribute(kind, field)
        ids = self._known | "KeyIds" >> beam.Map(lambda i: (int(bucket_of(np.array([i], object))[0]), i))
        return (
            {"rows": batches | "ById" >> beam.FlatMap(packed_buckets, attribute), "known": ids}
            | "Join" >> beam.CoGroupByKey()
            | "Check"
            >> beam.FlatMap(lambda kv: known_or_dead(kind, field, target, kv[1])).with_outputs(
                DEAD, main=VALID
            )
        )
