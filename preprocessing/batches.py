"""Interactions carried as columnar batches: the large source, without a Python object per row per step.

A pipeline that carries each interaction as its own element pays Beam's per-element cost (coding,
a shuffle entry, a counter) at every step, and a shuffle holds every element at once: at 1 M
interactions that was about 7 GB. Interactions therefore travel as ``Batch`` es, up to
``BATCH_ROWS`` rows of columns each, and every step that needs all rows with one key together
(identical rows, a referenced id, a user) shuffles batches cut into ``BUCKETS`` hash buckets of
that key instead of single rows:

    ParseFile --Batch--> DropDuplicates (bucket of the row's text)
              --> CheckReferences, one per field (bucket of the id; the ids the target defines join
                  the same bucket) --> SplitByUser (bucket of the user) --> one Timeline per user

The rules are the per-row rules of ``sources`` and ``split`` (first of identical rows by file and
line; dead-lettered once, for the first broken reference; earliest copy of a pair; PROTOCOL.md's
order), applied to a bucket's columns with pandas. Buckets are hashed with pandas' fixed-key
SipHash (``pandas.util.hash_array``), which every worker computes alike.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import pandas as pd

from msrec import source_config as sources
from preprocessing.records import Interaction
from preprocessing.rows import Row, reject

BATCH_ROWS = 50_000  # rows a parser gathers per batch: large enough to amortise, small next to memory
BUCKETS = 128  # hash buckets per shuffle: enough for a worker pool, few enough to keep batches whole
COLUMNS = ("path", "line", "raw", "user", "item", "timestamp", "raw_timestamp", "weight")
_DTYPES = {"line": np.int64, "timestamp": np.int64, "weight": np.float64}


class Batch:
    """Interaction rows as columns: where each came from (``path``, ``line``, ``raw`` text) and its record.

    Pickles as one array per column, so a batch of 50,000 rows is one element of a few megabytes.
    """

    __slots__ = COLUMNS

    def __init__(self, **columns: np.ndarray):
        for name in COLUMNS:
            setattr(self, name, columns[name])

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, int, str, Interaction]]) -> Batch:
        """From ``(path, line, raw, Interaction)`` tuples."""
        paths, lines_, raws, recs = zip(*rows, strict=False) if rows else ((), (), (), ())
        columns = {"path": paths, "line": lines_, "raw": raws}
        for name in ("user", "item", "timestamp", "raw_timestamp", "weight"):
            columns[name] = [getattr(r, name) for r in recs]
        return cls(**{name: _array(name, values) for name, values in columns.items()})

    @classmethod
    def concat(cls, batches: Iterable[Batch]) -> Batch:
        batches = list(batches)
        if not batches:
            return cls.from_rows([])
        return cls(**{name: np.concatenate([getattr(b, name) for b in batches]) for name in COLUMNS})

    def take(self, index: np.ndarray) -> Batch:
        """The rows at ``index`` (positions or a boolean mask), in that order."""
        return Batch(**{name: getattr(self, name)[index] for name in COLUMNS})

    def without_text(self) -> Batch:
        """The same rows without their raw text, once no check can dead-letter them any more."""
        columns = {name: getattr(self, name) for name in COLUMNS}
        columns["raw"] = np.full(len(self), "", dtype=object)
        return Batch(**columns)

    def __len__(self) -> int:
        return len(self.line)

    def __reduce__(self):
        return (_rebuild, tuple(getattr(self, name) for name in COLUMNS))

    def interactions(self) -> Iterator[Interaction]:
        for row in zip(
            self.user,
            self.item,
            self.timestamp.tolist(),
            self.raw_timestamp,
            self.weight.tolist(),
            strict=False,
        ):
            yield Interaction(*row)

    def buckets(self, key: str) -> Iterator[tuple[int, Batch]]:
        """``(bucket, rows)`` for every bucket of column ``key`` this batch has rows in."""
        if not len(self):
            return
        hashed = bucket_of(getattr(self, key))
        order = np.argsort(hashed, kind="stable")
        starts = np.flatnonzero(np.diff(hashed[order], prepend=-1))
        for begin, end in zip(starts, np.append(starts[1:], len(order)), strict=False):
            yield int(hashed[order[begin]]), self.take(order[begin:end])


def packed(value: Any) -> bytes:
    """A batch (or any element) as the bytes a shuffle carries: pickled, then zlib-compressed (level 1).

    The DirectRunner's grouping keeps each grouped value decoded, as live Python objects: a batch's
    strings would cost several times their pickled size while the whole source waits to be grouped.
    Bytes stay bytes. When a grouping is read, it is also encoded whole, once more, beside the table: at
    25 M interactions the pickled rows (82 bytes each) peaked above 12 GiB there. Level 1 shrinks them
    about 3x (25 bytes a row) for about half a microsecond per row.
    """
    return zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpacked(blob: bytes) -> Any:
    return pickle.loads(zlib.decompress(blob))


def packed_buckets(batch: Batch, key: str) -> Iterator[tuple[int, bytes]]:
    for bucket, rows in batch.buckets(key):
        yield bucket, packed(rows)


def _rebuild(*columns: np.ndarray) -> Batch:
    return Batch(**dict(zip(COLUMNS, columns, strict=False)))


def _array(name: str, values: Sequence[Any]) -> np.ndarray:
    if name in _DTYPES:
        return np.asarray(values, dtype=_DTYPES[name])
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def bucket_of(values: np.ndarray) -> np.ndarray:
    """Each value's bucket in ``[0, BUCKETS)``: the same on every worker and run."""
    if not len(values):
        return np.zeros(0, np.int64)
    return (pd.util.hash_array(np.asarray(values, dtype=object)) % BUCKETS).astype(np.int64)


def dead_letters(kind: str, rows: Batch, reason: str, details: Sequence[str]) -> Iterator[Any]:
    """One counted dead letter per row of ``rows``."""
    for path, line, raw, detail in zip(rows.path, rows.line.tolist(), rows.raw, details, strict=False):
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


def known_or_dead(kind: str, field: str, attribute: str, target: str, groups: dict) -> Iterator[Any]:
    """Rows of one id bucket whose ``attribute`` the target defines; the others are dead letters."""
    rows = Batch.concat(map(unpacked, groups["rows"]))
    if not len(rows):
        return
    ids = getattr(rows, attribute)
    known = pd.Series(ids).isin(pd.Index(list(groups["known"]))).to_numpy()
    yield rows.take(known)
    if not known.all():
        unknown = rows.take(~known)
        details = [f"{field}={value!r} is not in {target}" for value in getattr(unknown, attribute)]
        yield from dead_letters(kind, unknown, "unknown_reference", details)


class DropDuplicates(beam.PTransform):
    """``Batch`` es -> ``{valid: Batches, dead: dead letters}``: the per-row rule, bucket by bucket."""

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
                "dead", main="valid"
            )
        )


class CheckReference(beam.PTransform):
    """``Batch`` es -> ``{valid, dead}``: rows whose ``field`` names an id of ``known`` (a PCollection)."""

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
            >> beam.FlatMap(lambda kv: known_or_dead(kind, field, attribute, target, kv[1])).with_outputs(
                "dead", main="valid"
            )
        )
