"""Graphs derived from TRAIN: social neighbours of users and co-occurrence neighbours of items.

* Social: each friendship is undirected; a friend's tie strength is 1 + the number
  of TRAIN items both users have, so friends who share tastes rank first. A user
  keeps the ``k`` strongest; users without friends get an empty list.
* Items: two items co-occur when one follows the other within ``window``
  positions of a user's TRAIN sequence; the weight is the count normalised by
  ``sqrt(n_a * n_b)`` (cosine over sequences), and an item keeps its ``k`` best.
  The candidate tower aggregates these neighbours.
* Item scoring graph: the EASE^R regression of ``scoring_graph``.

``BuildGraphs``, the pipeline's step after the split, builds all three from the users' batches.
"""

from __future__ import annotations

import collections
import zlib
from typing import Iterable, Iterator, NamedTuple, Sequence

import apache_beam as beam
import numpy as np

from msrec.config import DataConfig
from preprocessing import progress
from preprocessing.batches import packed, unpacked
from preprocessing.scoring_graph import BuildScoringGraph, budget_items, item_words


def top_k(neighbours: Iterable[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """The ``k`` heaviest neighbours, ties broken by id so the output is deterministic."""
    return sorted(neighbours, key=lambda nw: (-nw[1], nw[0]))[:k]


def tie_strength(items_a: frozenset[str], items_b: frozenset[str]) -> float:
    return 1.0 + len(items_a & items_b)


class ItemIndex(NamedTuple):
    """TRAIN items as integers, in the order of their names, with their popularity (TRAIN count)."""

    names: list[str]
    at: dict[str, int]
    popularity: np.ndarray

    @classmethod
    def of(cls, item_counts: Iterable[tuple[str, int]]) -> ItemIndex:
        pairs = sorted(item_counts)
        names, counts = zip(*pairs, strict=True) if pairs else ((), ())
        names = list(names)
        return cls(names, {n: i for i, n in enumerate(names)}, np.asarray(counts, np.int64))


def window_pairs(timelines: Sequence, index: ItemIndex, window: int) -> Iterator[tuple[int, bytes]]:
    """``(bucket, packed keys)``: ``a * n + b`` for each time item ``b`` falls within ``window``
    positions of ``a`` (``a != b``) in a user's TRAIN sequence, both ways, bucketed by ``a``
    (``pack_keys``)."""
    n, at = len(index.names), index.at
    sequences = [[at[item] for item in t.train_items] for t in timelines]
    items = np.fromiter((i for seq in sequences for i in seq), np.int64)
    owner = np.repeat(np.arange(len(sequences)), [len(seq) for seq in sequences])
    keys = []
    for d in range(1, min(window, max(map(len, sequences), default=0)) + 1):
        near = (owner[:-d] == owner[d:]) & (items[:-d] != items[d:])
        a, b = items[:-d][near], items[d:][near]
        keys += [a * n + b, b * n + a]
    keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    if not len(keys):
        return
    bucket = keys // n % _BUCKETS
    order = np.lexsort((keys, bucket))  # by bucket, then key: each bucket's keys ascending
    keys, bucket = keys[order], bucket[order]
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    for begin, end in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        yield int(bucket[begin]), pack_keys(keys[begin:end])


def pack_keys(ascending: np.ndarray) -> bytes:
    """Ascending int64 keys as zlib-compressed gaps instead of 8 bytes a key (0.76 bytes a key on a
    Zipf-like sample batch of 1,024 users, one bucket).

    The pairs are the largest shuffle (up to 2 x window per TRAIN interaction: 250 M at 25 M
    interactions), and the DirectRunner holds a grouping whole, and its encoding once more when read.
    """
    return zlib.compress(np.diff(ascending, prepend=np.int64(0)).tobytes(), 1)


def unpack_keys(blob: bytes) -> np.ndarray:
    return np.cumsum(np.frombuffer(zlib.decompress(blob), np.int64))


def strongest(blobs: Iterable[bytes], index: ItemIndex, k: int) -> Iterator[tuple[str, list]]:
    """Per item ``a`` of one bucket (its ``window_pairs`` keys, packed), its ``k`` heaviest
    neighbours by ``count / sqrt(n_a * n_b)``, ties broken by the neighbour's id."""
    keys = [unpack_keys(blob) for blob in blobs]
    if not keys:
        return
    n, names = len(index.names), index.names
    pairs, counts = np.unique(np.concatenate(keys), return_counts=True)
    a, b = pairs // n, pairs % n
    weight = counts / np.sqrt(index.popularity[a] * index.popularity[b])
    order = np.lexsort((b, -weight, a))  # the index is in name order
    a, b, weight = a[order], b[order], weight[order]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    ends = np.r_[starts[1:], len(a)]
    for begin, end in zip(starts.tolist(), ends.tolist(), strict=True):
        end = min(end, begin + k)
        yield (
            names[a[begin]],
            [(names[j], w) for j, w in zip(b[begin:end].tolist(), weight[begin:end].tolist(), strict=True)],
        )


_BUCKETS = 128  # of the item graph's shuffle; each holds the pairs of about 1/128 of the items


class BuildItemGraph(beam.PTransform):
    """Packed lists of ``Timeline`` s (``batches.packed``) -> ``(item, [(neighbour, weight), ...])``
    from TRAIN sequences.

    The co-occurring pairs of a batch of users are found with numpy and shuffled as integer
    arrays bucketed by their first item, so no per-pair or per-item Python object is ever
    shuffled; each bucket counts its pairs and keeps every item's ``k`` best.
    """

    def __init__(self, window: int, k: int, index):
        """``index``: a singleton PCollection of the TRAIN ``ItemIndex``."""
        super().__init__()
        self._window, self._k, self._index = window, k, index

    def expand(self, batches):
        window, k, index = self._window, self._k, beam.pvalue.AsSingleton(self._index)
        return (
            batches
            | "Pairs" >> beam.FlatMap(lambda blob, ix: window_pairs(unpacked(blob), ix, window), ix=index)
            | "ByItem" >> beam.GroupByKey()
            | "Strongest" >> beam.FlatMap(lambda kv, ix: strongest(kv[1], ix, k), ix=index)
        )


class BuildSocialGraph(beam.PTransform):
    """``{edges, timelines}`` -> ``(user, [(friend, weight), ...])`` for users with friends."""

    def __init__(self, k: int):
        super().__init__()
        self._k = k

    def expand(self, inputs):
        edges, timelines = inputs["edges"], inputs["timelines"]
        k = self._k
        # Packed: both joins hold every set, one copy per friendship in the second (batches.packed).
        items = timelines | "TrainSets" >> beam.Map(lambda t: (t.user, packed(frozenset(t.train_items))))
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


_NO_ITEMS = packed(frozenset())


def _by_friend(joined: tuple[str, dict]) -> Iterator[tuple[str, tuple[str, bytes]]]:
    user, groups = joined
    user_items = next(iter(groups["items"]), _NO_ITEMS)
    for friend in groups["pairs"]:
        yield friend, (user, user_items)


def _strengths(joined: tuple[str, dict]) -> Iterator[tuple[str, tuple[str, float]]]:
    friend, groups = joined
    friend_items = unpacked(next(iter(groups["items"]), _NO_ITEMS))
    for user, user_items in groups["pairs"]:
        yield user, (friend, tie_strength(unpacked(user_items), friend_items))


def item_counts(user_batches, items: str, labels: tuple[str, str]):
    """``(item, count)`` over the users' ``items`` (``Timeline.train_items`` or ``known_items``)."""
    return (
        user_batches
        | labels[0]
        >> beam.FlatMap(
            lambda b: collections.Counter(i for t in unpacked(b) for i in getattr(t, items)).items()
        )
        | labels[1] >> beam.CombinePerKey(sum)
    )


class BuildGraphs(beam.PTransform):
    """The users (``split.SplitByUser``), item content and the social edges -> every graph.

    Input: ``{"timelines", "user_batches", "items": (item, Item)}``, and ``"social"`` (``Edge`` s)
    and ``"item_tags"`` (``ItemTag`` s) when the dataset has them. Output: ``{"item_counts": (item,
    TRAIN count), "item_graph": (item, neighbours), "social_graph": (user, friends) (empty without
    a social source), "scoring_graph": (item, sources)}`` and, with ``data.regression_refit``,
    ``"scoring_graph_refit"``, the same over TRAIN + VALIDATION.
    """

    def __init__(self, data: DataConfig, clock: progress.Clock | None = None):
        """``clock``: the regression prints progress lines (``preprocessing/progress.py``); None: silent."""
        super().__init__()
        self._data, self._clock = data, clock

    def expand(self, inputs):
        data, user_batches = self._data, inputs["user_batches"]
        counts = item_counts(user_batches, "train_items", ("TrainItems", "ItemCounts"))
        index = counts | "AllItemCounts" >> beam.combiners.ToList() | "ItemIndex" >> beam.Map(ItemIndex.of)
        neighbors = user_batches | "ItemGraph" >> BuildItemGraph(
            data.cooccurrence_window, data.lengths.neighbors, index
        )
        return {
            "item_counts": counts,
            "item_graph": neighbors,
            **self._scoring_graphs(inputs, counts),
            "social_graph": self._social_graph(inputs),
        }

    def _scoring_graphs(self, inputs, counts) -> dict:
        data, user_batches = self._data, inputs["user_batches"]
        known = None  # TRAIN + VALIDATION counts, for the refit model's scoring graph
        if data.regression_refit:
            known = item_counts(user_batches, "known_items", ("KnownItems", "KnownItemCounts"))
        words = None  # per category and tag, the items it labels: every tagging when there are some
        if data.regression_word_weight > 0:
            words = item_words(inputs["items"], inputs.get("item_tags"))
        train, refit = user_batches | "ScoringGraph" >> BuildScoringGraph(
            data.regression_l2,
            data.regression_neighbors,
            budget_items(data.regression_memory_gib, data.regression_max_items),
            counts,
            known,
            self._clock,
            words,
            data.regression_word_weight,
        )
        return (
            {"scoring_graph": train}
            if refit is None
            else {"scoring_graph": train, "scoring_graph_refit": refit}
        )

    def _social_graph(self, inputs):
        """Each user's strongest friends, or nothing when the dataset has no social source."""
        if "social" not in inputs:
            return inputs["timelines"].pipeline | "NoSocial" >> beam.Create([])
        edges = {"edges": inputs["social"], "timelines": inputs["timelines"]}
        return edges | "Social" >> BuildSocialGraph(self._data.lengths.friends)
