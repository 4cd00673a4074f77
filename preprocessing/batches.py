"""Rows carried as columnar batches: every source, without a Python object per row per step.

A pipeline that carries each row as its own element pays Beam's per-element cost (coding, a
shuffle entry, a counter) at every step, and a shuffle holds every element at once: at 1 M
interactions that was about 7 GB. Rows therefore travel as ``Batch`` es, up to ``BATCH_ROWS``
rows of columns each, from the parser through the checks (``checks``), and every step that needs
all rows with one key together (identical rows, a referenced id, a user) shuffles batches cut
into ``BUCKETS`` hash buckets of that key instead of single rows:

    ParseFile --Batch--> DropDuplicates (bucket of the row's text)
              --> CheckReference, one per field (bucket of the id; the ids the target defines join
                  the same bucket) --> valid records (interactions: still batches)
              --> SplitByUser (bucket of the user) --> one Timeline per user

The interactions, the one large source, stay batches until the split; the other sources become
one record per element once every check has passed. Buckets are hashed with pandas' fixed-key
SipHash (``pandas.util.hash_array``), which every worker computes alike.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd

BATCH_ROWS = 50_000  # rows a parser gathers per batch: large enough to amortise, small next to memory
BUCKETS = 128  # hash buckets per shuffle: enough for a worker pool, few enough to keep batches whole
ORIGIN = ("path", "line", "raw")  # where each row came from: the columns every batch has
_DTYPES = {"line": np.int64, "timestamp": np.int64, "weight": np.float64}  # the rest hold objects


class Batch:
    """Rows of one source as columns: where each came from (``ORIGIN``) and its record's fields.

    ``record_type`` is the records' NamedTuple (``records.Interaction``, ``records.Item``, ...);
    each of its fields is a column, read as an attribute (``batch.user``). Pickles as one array
    per column, so a batch of 50,000 rows is one element of a few megabytes.
    """

    __slots__ = ("record_type", "columns")

    def __init__(self, record_type: type[NamedTuple], columns: dict[str, np.ndarray]):
        self.record_type, self.columns = record_type, columns

    def __getattr__(self, name: str) -> np.ndarray:
        if name in Batch.__slots__:  # not set yet (while unpickling): no column to look in
            raise AttributeError(name)
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, int, str, Any]]) -> Batch:
        """From ``(path, line, raw, record)`` tuples (``rows.Row`` s), at least one."""
        paths, lines_, raws, records = zip(*rows, strict=True)
        record_type = type(records[0])
        columns = {"path": paths, "line": lines_, "raw": raws}
        for i, name in enumerate(record_type._fields):
            columns[name] = [r[i] for r in records]
        return cls(record_type, {name: _array(name, values) for name, values in columns.items()})

    @classmethod
    def concat(cls, batches: Iterable[Batch]) -> Batch:
        """One batch of the rows of ``batches`` (at least one, all of one record type)."""
        batches = list(batches)
        columns = {n: np.concatenate([b.columns[n] for b in batches]) for n in batches[0].columns}
        return cls(batches[0].record_type, columns)

    def take(self, index: np.ndarray) -> Batch:
        """The rows at ``index`` (positions or a boolean mask), in that order."""
        return Batch(self.record_type, {name: column[index] for name, column in self.columns.items()})

    def without_raw(self) -> Batch:
        """The same rows without their raw text, once no check can dead-letter them any more."""
        return Batch(self.record_type, {**self.columns, "raw": np.full(len(self), "", dtype=object)})

    def __len__(self) -> int:
        return len(self.line)

    def __reduce__(self):
        return (Batch, (self.record_type, self.columns))

    def records(self) -> Iterator[Any]:
        """The rows' records, in order."""
        columns = [self.columns[name].tolist() for name in self.record_type._fields]
        for values in zip(*columns, strict=True):
            yield self.record_type(*values)

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


def _array(name: str, values: Sequence[Any]) -> np.ndarray:
    if name in _DTYPES:
        return np.asarray(values, dtype=_DTYPES[name])
    # One object per row, whatever it is: np.asarray would unpack a row's tuple (an item's tags).
    return np.fromiter(values, dtype=object, count=len(values))


def bucket_of(values: np.ndarray) -> np.ndarray:
    """Each value's bucket in ``[0, BUCKETS)``: the same on every worker and run."""
    if not len(values):
        return np.zeros(0, np.int64)
    return (pd.util.hash_array(np.asarray(values, dtype=object)) % BUCKETS).astype(np.int64)
