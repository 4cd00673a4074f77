"""The temporal leave-last-out split of ``shared/benchmarks/PROTOCOL.md``.

Per user: duplicate (user, item) rows merge into the earliest; interactions are
ordered by timestamp, ties broken by the SHA-1 of ``f"{user}\\t{item}"``; a user
with at least 3 interactions gives the last to TEST, the one before to
VALIDATION and the rest to TRAIN; anyone else keeps everything in TRAIN.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, NamedTuple

import apache_beam as beam

from preprocessing.records import Interaction

MIN_EVALUATED = 3


class Timeline(NamedTuple):
    """One user's interactions after the split; ``train`` is oldest first."""

    user: str
    train: tuple[Interaction, ...]
    validation: Interaction | None
    test: Interaction | None

    @property
    def known(self) -> tuple[Interaction, ...]:
        """TRAIN + VALIDATION: what serving may know of the user."""
        return self.train + ((self.validation,) if self.validation else ())


def tie_break(user: str, item: str) -> str:
    return hashlib.sha1(f"{user}\t{item}".encode()).hexdigest()


def merge_duplicates(interactions: Iterable[Interaction]) -> list[Interaction]:
    """Keeps the earliest row of each (user, item) pair."""
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
    if len(rows) < MIN_EVALUATED:
        return Timeline(user, tuple(rows), None, None)
    return Timeline(user, tuple(rows[:-2]), rows[-2], rows[-1])


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


class SplitByUser(beam.PTransform):
    """``Interaction`` records -> one ``Timeline`` per user."""

    def expand(self, interactions):
        return (
            interactions
            | "KeyByUser" >> beam.Map(lambda it: (it.user, it))
            | "GroupByUser" >> beam.GroupByKey()
            | "Split" >> beam.MapTuple(split_user)
        )
