import collections
import math
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocessing import batches, graphs
from preprocessing.records import Edge, Interaction
from preprocessing.split import Timeline


def test_regression_of_two_items_is_their_count_over_the_source_count_plus_l2():
    # a in 3 sets, b in 2, together in 2: with two items EASE^R's weight of a for b is
    # c_ab / (n_a + l2) = 2 / 4, and of b for a, 2 / (2 + 1).
    graph = dict(graphs.regression([[0, 1], [0, 1], [0]], ["a", "b"], l2=1.0, k=5))
    assert graph["b"] == [("a", pytest.approx(0.5))]
    assert graph["a"] == [("b", pytest.approx(2 / 3))]


def test_regression_keeps_the_k_largest_sources_negative_ones_included():
    # b and c each come with a but never together: given a, b speaks *against* c (and c
    # against b); a is predicted by both, more by b, which co-occurs with it more often.
    sets = [[0, 1]] * 5 + [[0, 2]] * 3
    graph = dict(graphs.regression(sets, ["a", "b", "c"], l2=1.0, k=5))
    assert [s for s, w in graph["c"] if w > 0] == [s for s, w in graph["b"] if w > 0] == ["a"]
    assert [s for s, w in graph["c"] if w < 0] == ["b"] and [s for s, w in graph["b"] if w < 0] == ["c"]
    # c's regression on (a, b): [[9, 5], [5, 6]] w = [3, 0], so w = (18, -15) / 29.
    assert dict(graph["c"]) == {"a": pytest.approx(18 / 29), "b": pytest.approx(-15 / 29)}
    assert [s for s, _ in graph["a"]] == ["b", "c"]
    assert [s for s, _ in dict(graphs.regression(sets, ["a", "b", "c"], l2=1.0, k=1))["a"]] == ["b"]


def test_head_is_the_most_frequent_items_ties_by_id():
    assert graphs.head([("x", 2), ("b", 5), ("a", 2), ("c", 1)], 3) == ["b", "a", "x"]


def test_the_covered_items_follow_the_memory_budget_and_an_optional_fixed_cap():
    # 4 bytes per cell (one float32 square, inverted in place): 4 GiB holds 32,768 items, 1 GiB 16,384.
    assert graphs.budget_items(4.0) == 32768
    assert graphs.budget_items(1.0) == 16384
    assert graphs.budget_items(4.0, max_items=2000) == 2000
    assert graphs.budget_items(0.001, max_items=2000) < 2000  # the budget wins when smaller


def test_the_inverse_is_numpys_and_overwrites_the_matrix_it_inverts():
    rng = np.random.default_rng(0)
    x = (rng.random((40, 12)) < 0.3).astype(np.float32)
    gram = x.T @ x + 5.0 * np.eye(12, dtype=np.float32)
    expected = np.linalg.inv(gram.astype(np.float64))
    inverse = graphs.invert_in_place(gram, block=5)  # blocks that do not divide 12
    assert np.shares_memory(inverse, gram)  # no second n x n array
    np.testing.assert_array_equal(inverse, inverse.T)  # both triangles filled
    np.testing.assert_allclose(inverse, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(inverse @ (x.T @ x + 5.0 * np.eye(12)), np.eye(12), atol=1e-4)


def test_no_covered_items_give_no_scoring_edges():
    assert graphs.invert_in_place(np.zeros((0, 0), np.float32)).shape == (0, 0)
    assert list(graphs.regression([np.array([], np.int32)], [], 50.0, 10)) == []


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


def test_matrices_too_large_for_cholesky_are_inverted_by_lu_in_place(monkeypatch):
    monkeypatch.setattr(graphs, "CHOLESKY_BYTES", 0)  # as for 32,768 items and more
    rng = np.random.default_rng(1)
    x = (rng.random((30, 9)) < 0.4).astype(np.float32)
    gram = x.T @ x + 2.0 * np.eye(9, dtype=np.float32)
    expected = np.linalg.inv(gram.astype(np.float64))
    inverse = graphs.invert_in_place(gram)
    assert np.shares_memory(inverse, gram)
    np.testing.assert_allclose(inverse, expected, rtol=1e-4, atol=1e-6)


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


def test_an_item_word_is_a_row_of_the_regression_like_a_user_who_met_exactly_its_items():
    # a and c are never met together; a word on both links them as one more such user would.
    sets = [[0, 1], [0, 1], [1, 2], [2]]
    with_word = dict(graphs.regression(sets, ["a", "b", "c"], l2=1.0, k=5, words=[[0, 2]], word_weight=1.0))
    as_user = dict(graphs.regression(sets + [[0, 2]], ["a", "b", "c"], l2=1.0, k=5))
    assert with_word.keys() == as_user.keys()
    for item, edges in as_user.items():
        assert [s for s, _ in with_word[item]] == [s for s, _ in edges]
        np.testing.assert_allclose([w for _, w in with_word[item]], [w for _, w in edges], rtol=1e-6)
    behaviour = dict(graphs.regression(sets, ["a", "b", "c"], l2=1.0, k=5))
    assert dict(behaviour["c"])["a"] < 0 < dict(with_word["c"])["a"]
    # weight 0: the word is ignored.
    zero = dict(graphs.regression(sets, ["a", "b", "c"], l2=1.0, k=5, words=[[0, 2]], word_weight=0.0))
    assert {i: [s for s, _ in e] for i, e in zero.items()} == {
        i: [s for s, _ in e] for i, e in behaviour.items()
    }


def test_a_word_counts_only_where_it_labels_two_or_more_covered_items():
    words = [["a", "b", "z"], ["b"], ["z", "y"], ["c", "a", "a"]]
    assert [list(r) for r in graphs.covered(words, ["a", "b", "c"])] == [[0, 1], [0, 2]]


def test_item_words_are_categories_and_every_tagging_or_the_items_own_tags():
    from preprocessing.records import Item, ItemTag

    items = [
        ("a", Item("a", ("rock",), ("loud",), ())),
        ("b", Item("b", ("rock", "pop"), ("loud",), ())),
        ("c", Item("c", ("pop",), (), ())),
        ("d", Item("d", ("jazz",), (), ())),
    ]
    taggings = [ItemTag("a", "7"), ItemTag("c", "7"), ItemTag("c", "7"), ItemTag("d", "8")]
    with TestPipeline() as p:
        inline = graphs.item_words(p | "Items" >> beam.Create(items))
        assert_that(inline, equal_to([("a", "b"), ("b", "c"), ("a", "b")]), label="Inline")
    with TestPipeline() as p:
        words = graphs.item_words(p | "Items" >> beam.Create(items), p | "Tags" >> beam.Create(taggings))
        # rock {a, b}, pop {b, c}, tag 7 {a, c}; the items' own (top) tags are not read twice.
        assert_that(words, equal_to([("a", "b"), ("b", "c"), ("a", "c")]), label="Tagged")


def test_a_block_is_added_in_row_chunks_as_in_one_go():
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(50, 37, replace=False))
    expected = np.zeros((50, 50), np.float32)
    expected[np.ix_(rows, rows)] += 2.5
    gram = np.zeros((50, 50), np.float32)
    graphs.add_block(gram, rows, 2.5, cells=100)  # 2 rows per chunk
    np.testing.assert_array_equal(gram, expected)
