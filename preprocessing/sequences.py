"""Behaviour sequences: one example per (history, target) and each user's latest state.

A TRAIN example's history is the user's TRAIN interactions before its target; the
VALIDATION example's history is all of TRAIN. The TEST example's history is
TRAIN + VALIDATION: PROTOCOL.md (rule 4) allows that only for a model refit on
TRAIN + VALIDATION, which is what ``train.refit`` (the default) does; nothing of
the TEST interaction itself ever reaches a feature. Histories are most recent
first and truncated to the contract's length. Time gaps are log1p hours before the most recent history
event, so they never depend on the target's own time.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

from msrec import features as F
from preprocessing.batches import unpacked
from preprocessing.records import Interaction
from preprocessing.split import Timeline


def history_features(history: Sequence[Interaction], length: int) -> dict[str, list]:
    """Sequence features of ``history`` (oldest first), most recent first."""
    recent = list(reversed(history[-length:])) if length else []
    latest = recent[0].timestamp if recent else 0
    return {
        F.HISTORY_ITEM_IDS: [it.item for it in recent],
        F.HISTORY_WEIGHTS: [it.weight for it in recent],
        F.HISTORY_TIME_GAPS: [math.log1p(max(latest - it.timestamp, 0) / 3600.0) for it in recent],
    }


def _example(user: str, history: Sequence[Interaction], target: Interaction, length: int) -> dict:
    values = {F.USER_ID: user, F.ITEM_ID: target.item, F.EVENT_WEIGHT: target.weight}
    values.update(history_features(history, length))
    return values


def friend_features(friends: Sequence[tuple[str, float]]) -> dict[str, list]:
    return {F.FRIEND_IDS: [f for f, _ in friends], F.FRIEND_WEIGHTS: [w for _, w in friends]}


def examples(
    timeline: Timeline,
    history_length: int,
    friends: Sequence[tuple[str, float]] = (),
    mode: str = "prefix",
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields ``(split, values)`` for every example of one user (``mode``: see DataConfig)."""
    for split, values in _examples(timeline, history_length, mode):
        values.update(friend_features(friends))
        yield split, values


def _history(train: Sequence[Interaction], position: int, length: int, mode: str) -> Sequence[Interaction]:
    """The last ``length`` events of the target's history (sliced so, since users can have thousands)."""
    if mode == "prefix":
        return train[max(0, position - length) : position]
    after = train[max(position + 1, len(train) - length) :] if length else ()
    return train[max(0, position - (length - len(after))) : position] + after


def _examples(timeline: Timeline, history_length: int, mode: str) -> Iterator[tuple[str, dict[str, Any]]]:
    train = timeline.train
    for position, target in enumerate(train):
        yield (
            "train",
            _example(timeline.user, _history(train, position, history_length, mode), target, history_length),
        )
    seen = [it.item for it in train]
    if timeline.validation is not None:
        values = _example(timeline.user, train, timeline.validation, history_length)
        values[F.SEEN_ITEM_IDS] = seen
        yield "validation", values
    if timeline.test is not None:
        values = _example(timeline.user, timeline.known, timeline.test, history_length)
        values[F.SEEN_ITEM_IDS] = seen + [timeline.validation.item]
        yield "test", values


def latest_state(
    timeline: Timeline, history_length: int, friends: Sequence[tuple[str, float]] = ()
) -> dict[str, Any]:
    """The user's query features for serving: TRAIN + VALIDATION, never TEST."""
    values = {F.USER_ID: timeline.user}
    values.update(history_features(timeline.known, history_length))
    values.update(friend_features(friends))
    values[F.SEEN_ITEM_IDS] = [it.item for it in timeline.known]  # all of them: serving excludes these
    return values


def with_friends(joined: tuple[str, dict]) -> Iterator[tuple[Timeline, list[tuple[str, float]]]]:
    """Flattens a CoGroupByKey of ``timelines`` (packed bytes) and ``friends`` on the user id."""
    _, groups = joined
    friends = next(iter(groups["friends"]), [])
    for timeline in groups["timelines"]:
        yield unpacked(timeline), friends
