"""Graphs derived from TRAIN: social neighbours of users and co-occurrence neighbours of items.

* Social: each friendship is undirected; a friend's tie strength is 1 + the number
  of TRAIN items both users have, so friends who share tastes rank first. A user
  keeps the ``k`` strongest; users without friends get an empty list.
* Items: two items co-occur when one follows the other within ``window``
  positions of a user's TRAIN sequence; the weight is the count normalised by
  ``sqrt(n_a * n_b)`` (cosine over sequences), and an item keeps its ``k`` best.
"""

from __future__ import annotations

import collections
import math
from typing import Iterable, Iterator, Sequence

import apache_beam as beam


def top_k(neighbours: Iterable[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """The ``k`` heaviest neighbours, ties broken by id so the output is deterministic."""
    return sorted(neighbours, key=lambda nw: (-nw[1], nw[0]))[:k]


def tie_strength(items_a: frozenset[str], items_b: frozenset[str]) -> float:
    return 1.0 + len(items_a & items_b)


def window_counts(sequence: Sequence[str], window: int) -> Iterator[tuple[str, dict[str, int]]]:
    """Per item of one sequence, how often each other item falls within ``window`` of it."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i, a in enumerate(sequence):
        for b in sequence[max(0, i - window) : i + window + 1]:
            if b != a:
                counts[a][b] += 1
    yield from ((a, dict(c)) for a, c in counts.items())


def cosine(a: str, counts: dict[str, int], popularity: dict[str, int], k: int) -> list[tuple[str, float]]:
    n_a = popularity.get(a, 1)
    weights = ((b, c / math.sqrt(n_a * popularity.get(b, 1))) for b, c in counts.items())
    return top_k(weights, k)


class MergeCounts(beam.CombineFn):
    """Sums ``{neighbour: count}`` dicts."""

    def create_accumulator(self) -> collections.Counter:
        return collections.Counter()

    def add_input(self, acc: collections.Counter, counts: dict[str, int]) -> collections.Counter:
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs: Iterable[collections.Counter]) -> collections.Counter:
        merged = collections.Counter()
        for acc in accs:
            merged.update(acc)
        return merged

    def extract_output(self, acc: collections.Counter) -> dict[str, int]:
        return dict(acc)


class BuildItemGraph(beam.PTransform):
    """``Timeline`` -> ``(item, [(neighbour, weight), ...])`` from TRAIN sequences."""

    def __init__(self, window: int, k: int, item_counts):
        super().__init__()
        self._window, self._k, self._counts = window, k, item_counts

    def expand(self, timelines):
        window, k = self._window, self._k
        return (
            timelines
            | "Windows" >> beam.FlatMap(lambda t: window_counts([it.item for it in t.train], window))
            | "SumWindows" >> beam.CombinePerKey(MergeCounts())
            | "Cosine"
            >> beam.Map(
                lambda kv, pop: (kv[0], cosine(kv[0], kv[1], pop, k)), pop=beam.pvalue.AsDict(self._counts)
            )
        )


class BuildSocialGraph(beam.PTransform):
    """``{edges, timelines}`` -> ``(user, [(friend, weight), ...])`` for users with friends."""

    def __init__(self, k: int):
        super().__init__()
        self._k = k

    def expand(self, inputs):
        edges, timelines = inputs["edges"], inputs["timelines"]
        k = self._k
        items = timelines | "TrainSets" >> beam.Map(lambda t: (t.user, frozenset(it.item for it in t.train)))
        pairs = (
            edges
            | "BothWays" >> beam.FlatMap(lambda e: [(e.user, e.friend), (e.friend, e.user)])
            | "DistinctPairs" >> beam.Distinct()
        )
        # Two joins attach both endpoints' TRAIN item sets to each directed pair.
        with_user = (
            {"items": items, "pairs": pairs}
            | "JoinUser" >> beam.CoGroupByKey()
            | "ByFriend" >> beam.FlatMap(_by_friend)
        )
        return (
            {"items": items, "pairs": with_user}
            | "JoinFriend" >> beam.CoGroupByKey()
            | "Strength" >> beam.FlatMap(_strengths)
            | "GroupFriends" >> beam.GroupByKey()
            | "TopFriends" >> beam.MapTuple(lambda user, friends: (user, top_k(friends, k)))
        )


def _by_friend(joined: tuple[str, dict]) -> Iterator[tuple[str, tuple[str, frozenset[str]]]]:
    user, groups = joined
    user_items = next(iter(groups["items"]), frozenset())
    for friend in groups["pairs"]:
        yield friend, (user, user_items)


def _strengths(joined: tuple[str, dict]) -> Iterator[tuple[str, tuple[str, float]]]:
    friend, groups = joined
    friend_items = next(iter(groups["items"]), frozenset())
    for user, user_items in groups["pairs"]:
        yield user, (friend, tie_strength(user_items, friend_items))
