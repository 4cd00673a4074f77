"""The item co-occurrence graph and the social graph, against the rules spelled out by hand."""

import collections
import math
import random

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocessing import batches, graphs
from preprocessing.records import Edge, Interaction
from preprocessing.split import Timeline


def _brute_force_item_graph(sequences, window, k):
    """The rule spelled out: counts within ``window`` both ways, over sqrt of TRAIN popularities."""

    pop = collections.Counter(i for s in sequences for i in s)
    counts = collections.defaultdict(collections.Counter)
    for s in sequences:
        for i, a in enumerate(s):
            for b in s[max(0, i - window) : i + window + 1]:
                if b != a:
                    counts[a][b] += 1
    return {
        a: sorted(((b, c / math.sqrt(pop[a] * pop[b])) for b, c in nb.items()), key=lambda x: (-x[1], x[0]))[
            :k
        ]
        for a, nb in counts.items()
    }


def test_the_item_graph_counts_pairs_within_the_window_as_the_rule_says():
    rng = random.Random(5)
    # Few items, so pairs repeat, weights tie and the id breaks ties; a user of one item has no pair.
    sequences = [[f"i{rng.randint(0, 9)}" for _ in range(rng.randint(1, 9))] for _ in range(300)]
    timelines = [
        Timeline.of(f"u{n}", [Interaction(f"u{n}", i, t, str(t), 1.0) for t, i in enumerate(s)])
        for n, s in enumerate(sequences)
    ]
    trains = [list(t.train_items) for t in timelines]  # users of 3 or more hold two out
    expected = _brute_force_item_graph(trains, window=2, k=3)
    assert len(expected) == 10 and any(len(v) == 3 for v in expected.values())
    counts = list(collections.Counter(i for s in trains for i in s).items())
    with TestPipeline() as p:
        index = p | "Counts" >> beam.Create([counts]) | beam.Map(graphs.ItemIndex.of)
        out = (
            p
            | beam.Create([batches.packed(timelines[:100]), batches.packed(timelines[100:])])
            | graphs.BuildItemGraph(2, 3, index)
        )
        assert_that(out, equal_to(sorted(expected.items())))


def test_packed_pair_keys_come_back_exactly_and_smaller():
    rng = np.random.default_rng(3)
    keys = np.sort(rng.integers(0, 500_000**2, size=5_000, dtype=np.int64))
    keys[10:20] = keys[10]  # repeated pairs stay repeated: they are the counts
    blob = graphs.pack_keys(keys)
    np.testing.assert_array_equal(graphs.unpack_keys(blob), keys)
    assert len(blob) < 8 * len(keys) / 1.5
    assert graphs.unpack_keys(graphs.pack_keys(np.zeros(0, np.int64))).size == 0


def test_friend_strength_is_one_plus_the_shared_train_items_both_ways():
    trains = {"a": ["i1", "i2", "i3"], "b": ["i2", "i3", "i4"], "c": ["i9"]}
    timelines = [
        Timeline.of(u, [Interaction(u, i, t, str(t), 1.0) for t, i in enumerate([*items, "x", "y"])])
        for u, items in trains.items()
    ]
    assert [list(t.train_items) for t in timelines] == list(trains.values())
    # A repeated and a reversed edge count once; "e" has no timeline, so it shares nothing.
    edges = [Edge("a", "b"), Edge("b", "a"), Edge("a", "c"), Edge("a", "b"), Edge("e", "b")]
    with TestPipeline() as p:
        out = {
            "edges": p | "Edges" >> beam.Create(edges),
            "timelines": p | "Timelines" >> beam.Create(timelines),
        } | graphs.BuildSocialGraph(k=2)
        expected = [
            ("a", [("b", 3.0), ("c", 1.0)]),
            ("b", [("a", 3.0), ("e", 1.0)]),
            ("c", [("a", 1.0)]),
            ("e", [("b", 1.0)]),
        ]
        assert_that(out, equal_to(expected))
