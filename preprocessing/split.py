"""The temporal leave-last-out split of ``shared/benchmarks/PROTOCOL.md``.

Per user: duplicate (user, item) rows merge into the earliest; interactions are
ordered by timestamp, ties broken by the SHA-1 of ``f"{user}\\t{item}"``; a user
with at least 3 interactions gives the last to TEST, the one before to
VALIDATION and the rest to TRAIN; anyone else keeps everything in TRAIN.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import pandas as pd

from preprocessing.batches import Batch, packed, packed_buckets, unpacked
from preprocessing.records import Interaction

MIN_EVALUATED = 3
USER_BATCH = 1024  # timelines per element of the steps that work on many users at once


class Timeline:
    """One user's interactions after the split, oldest first: TRAIN, then VALIDATION and TEST if any.

    Stored as columns (and pickled so), since every user's timeline is shuffled and joined; ``train``,
    ``validation``, ``test`` and ``known`` give ``Interaction`` records when asked.
    """

    __slots__ = ("user", "items", "timestamps", "raw_timestamps", "weights", "evaluated")

    def __init__(self, user: str, items, timestamps, raw_timestamps, weights, evaluated: bool):
        self.user, self.items, self.timestamps = user, tuple(items), tuple(timestamps)
        # A raw time that reads as its number (the usual case) is kept as None: it is rebuilt on demand.
        self.raw_timestamps = tuple(
            None if raw is None or raw == str(ts) else raw
            for raw, ts in zip(raw_timestamps, self.timestamps, strict=True)
        )
        self.weights, self.evaluated = tuple(weights), evaluated

    @classmethod
    def of(cls, user: str, rows: Sequence[Interaction]) -> Timeline:
        """From one user's rows, ordered and de-duplicated."""
        columns = (
            list(zip(*[(r.item, r.timestamp, r.raw_timestamp, r.weight) for r in rows], strict=False))
            or [()] * 4
        )
        return cls(user, *columns, evaluated=len(rows) >= MIN_EVALUATED)

    def __reduce__(self):
        return (
            Timeline,
            (self.user, self.items, self.timestamps, self.raw_timestamps, self.weights, self.evaluated),
        )

    def _at(self, i: int) -> Interaction:
        return Interaction(self.user, self.items[i], self.timestamps[i], self._raw(i), self.weights[i])

    def _raw(self, i: int) -> str:
        raw = self.raw_timestamps[i]
        return str(self.timestamps[i]) if raw is None else raw

    @property
    def train(self) -> tuple[Interaction, ...]:
        end = len(self.items) - 2 if self.evaluated else len(self.items)
        return tuple(self._at(i) for i in range(end))

    @property
    def train_items(self) -> tuple[str, ...]:
        return self.items[:-2] if self.evaluated else self.items

    @property
    def known_items(self) -> tuple[str, ...]:
        """TRAIN + VALIDATION items, the ones ``known`` holds."""
        return self.items[:-1] if self.evaluated else self.items

    @property
    def validation(self) -> Interaction | None:
        return self._at(len(self.items) - 2) if self.evaluated else None

    @property
    def test(self) -> Interaction | None:
        return self._at(len(self.items) - 1) if self.evaluated else None

    @property
    def known(self) -> tuple[Interaction, ...]:
        """TRAIN + VALIDATION: what serving may know of the user."""
        end = len(self.items) - 1 if self.evaluated else len(self.items)
        return tuple(self._at(i) for i in range(end))


def tie_break(user: str, item: str) -> str:
    return hashlib.sha1(f"{user}\t{item}".encode()).hexdigest()


def merge_duplicates(interactions: Iterable[Interaction]) -> list[Interaction]:
    """Keeps the earliest row of each (user, item) pair (of equal times, the first given)."""
    earliest: dict[str, Interaction] = {}
    for it in interactions:
        kept = earliest.get(it.item)
        if kept is None or (it.timestamp, it.raw_timestamp) < (kept.timestamp, kept.raw_timestamp):
            earliest[it.item] = it
    return list(earliest.values())


def split_user(user: str, interactions: Iterable[Interaction]) -> Timeline:
    """Applies PROTOCOL.md's split to all of one user's interactions."""
    rows = merge_duplicates(interactions)
    rows.sort(key=lambda it: (it.timestamp, tie_break(user, it.item)))
    return Timeline.of(user, rows)


def fingerprint_line(timeline: Timeline) -> str:
    """The user's line of the test-split fingerprint (raw ids and timestamp)."""
    test = timeline.test
    return f"{timeline.user}\t{test.item}\t{test.raw_timestamp}\n"


def fingerprint(lines: Iterable[str]) -> str:
    """SHA-256 of the sorted test lines, as PROTOCOL.md defines it."""
    digest = hashlib.sha256()
    for line in sorted(lines, key=lambda s: s.encode("utf-8")):
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def split_bucket(batches: Iterable[Batch]) -> Iterator[Timeline]:
    """``split_user`` for every user of one user bucket, on its columns at once."""
    rows = Batch.concat(batches)
    if not len(rows):
        return
    frame = pd.DataFrame(
        {"user": rows.user, "item": rows.item, "timestamp": rows.timestamp, "raw": rows.raw_timestamp}
    )
    # The earliest copy of a pair; equal times fall back to the raw text, then to file order.
    frame["path"], frame["line"] = rows.path, rows.line
    frame = frame.sort_values(["user", "item", "timestamp", "raw", "path", "line"], kind="stable")
    kept = frame.index.to_numpy()[~frame.duplicated(["user", "item"]).to_numpy()]
    rows = rows.take(kept)
    ties = [tie_break(u, i) for u, i in zip(rows.user, rows.item, strict=False)]
    order = np.lexsort((np.asarray(ties), rows.timestamp, np.asarray(rows.user, dtype=str)))
    rows = rows.take(order)
    starts = np.flatnonzero(np.r_[True, rows.user[1:] != rows.user[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    items, times, raws, weights = rows.item, rows.timestamp.tolist(), rows.raw_timestamp, rows.weight.tolist()
    for begin, end in zip(starts.tolist(), ends.tolist(), strict=False):
        yield Timeline(
            rows.user[begin],
            items[begin:end],
            times[begin:end],
            raws[begin:end],
            weights[begin:end],
            end - begin >= MIN_EVALUATED,
        )


class SplitByUser(beam.PTransform):
    """Interaction ``Batch`` es -> ``{"timelines": one Timeline per user, "user_batches": the same
    timelines in packed lists of up to ``USER_BATCH`` (``batches.packed``)}``.

    The user batches feed the steps that work on many users at once (item counts, the item and
    scoring graphs, the catalog): a shuffle or a combine costs Beam per element, so they take a
    batch of users, not an interaction, as one; packed, because the stages that wait for the item
    index keep every batch meanwhile.
    """

    def expand(self, batches):
        timelines = (
            batches
            | "ByUser" >> beam.FlatMap(packed_buckets, "user")
            | "GroupByUser" >> beam.GroupByKey()
            | "Split" >> beam.FlatMap(lambda kv: split_bucket(map(unpacked, kv[1])))
        )
        user_batches = (
            timelines
            | "UserBatches" >> beam.BatchElements(min_batch_size=USER_BATCH, max_batch_size=USER_BATCH)
            | "PackUserBatches" >> beam.Map(packed)
        )
        return {"timelines": timelines, "user_batches": user_batches}
