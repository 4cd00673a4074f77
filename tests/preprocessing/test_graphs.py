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


def _timelines(trains):
    """Users whose TRAIN items are ``trains[user]``: x and y follow as VALIDATION and TEST."""
    return [
        Timeline.of(u, [Interaction(u, i, t, str(t), 1.0) for t, i in enumerate([*items, "x", "y"])])
        for u, items in trains.items()
    ]


def test_build_graphs_gives_counts_and_every_graph_from_the_users_batches():
    from msrec import config
    from preprocessing import scoring_graph
    from preprocessing.records import Item

    timelines = _timelines({"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["b", "c"]})
    items = [("a", Item("a", ("rock",), (), ())), ("c", Item("c", ("rock",), (), ()))]
    data = config.DataConfig(cooccurrence_window=2)
    with TestPipeline() as p:
        inputs = {
            "timelines": p | "Timelines" >> beam.Create(timelines),
            "user_batches": p | "Batches" >> beam.Create([batches.packed(timelines)]),
            "items": p | "Items" >> beam.Create(items),
            "social": p | "Edges" >> beam.Create([Edge("u1", "u2")]),
        }
        out = inputs | graphs.BuildGraphs(data)
        assert_that(out["item_counts"], equal_to([("a", 2), ("b", 3), ("c", 1)]), label="Counts")
        # Cosine over windows: a and b meet twice (n 2 and 3), b and c once (n 3 and 1).
        ab, bc = 2 / math.sqrt(6), 1 / math.sqrt(3)
        item_graph = [("a", [("b", ab)]), ("b", [("a", ab), ("c", bc)]), ("c", [("b", bc)])]
        assert_that(out["item_graph"], equal_to(item_graph), label="ItemGraph")
        # u1 and u2 share a and b: 1 + 2; u3 has no friend.
        social = [("u1", [("u2", 3.0)]), ("u2", [("u1", 3.0)])]
        assert_that(out["social_graph"], equal_to(social), label="SocialGraph")
        # The regressions over the items by count, rock on {a, c} as one more row of each;
        # the refit's TRAIN + VALIDATION sets add x to every user.
        rock = [["a", "c"]]
        for key, names, sets in (
            ("scoring_graph", ["b", "a", "c"], [[0, 1], [0, 1], [0, 2]]),
            ("scoring_graph_refit", ["b", "x", "a", "c"], [[0, 1, 2], [0, 1, 2], [0, 1, 3]]),
        ):
            words = scoring_graph.covered(rock, names)
            l2, k = data.regression_l2, data.regression_neighbors
            expected = scoring_graph.regression(sets, names, l2, k, words=words, word_weight=1.0)
            assert_that(out[key], equal_to(list(expected)), label=key)


def test_build_graphs_without_refit_or_social_source_makes_neither():
    from msrec import config

    timelines = _timelines({"u1": ["a", "b"]})
    data = config.DataConfig(cooccurrence_window=2, regression_refit=False, regression_word_weight=0.0)
    with TestPipeline() as p:
        inputs = {
            "timelines": p | "Timelines" >> beam.Create(timelines),
            "user_batches": p | "Batches" >> beam.Create([batches.packed(timelines)]),
            "items": p | "Items" >> beam.Create([]),
        }
        out = inputs | graphs.BuildGraphs(data)
        assert "scoring_graph_refit" not in out
        assert_that(out["social_graph"], equal_to([]), label="NoFriends")
        sources = out["scoring_graph"] | beam.Map(lambda kv: (kv[0], [s for s, _ in kv[1]]))
        assert_that(sources, equal_to([("a", ["b"]), ("b", ["a"])]), label="ScoringGraph")
