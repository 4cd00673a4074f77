"""The EASE^R scoring graph: the regression on hand-sized item sets, the in-place inverse, item words."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocessing import scoring_graph


def test_regression_of_two_items_is_their_count_over_the_source_count_plus_l2():
    # a in 3 sets, b in 2, together in 2: with two items EASE^R's weight of a for b is
    # c_ab / (n_a + l2) = 2 / 4, and of b for a, 2 / (2 + 1).
    graph = dict(scoring_graph.regression([[0, 1], [0, 1], [0]], ["a", "b"], l2=1.0, k=5))
    assert graph["b"] == [("a", pytest.approx(0.5))]
    assert graph["a"] == [("b", pytest.approx(2 / 3))]


def test_regression_keeps_the_k_largest_sources_negative_ones_included():
    # b and c each come with a but never together: given a, b speaks *against* c (and c
    # against b); a is predicted by both, more by b, which co-occurs with it more often.
    sets = [[0, 1]] * 5 + [[0, 2]] * 3
    graph = dict(scoring_graph.regression(sets, ["a", "b", "c"], l2=1.0, k=5))
    assert [s for s, w in graph["c"] if w > 0] == [s for s, w in graph["b"] if w > 0] == ["a"]
    assert [s for s, w in graph["c"] if w < 0] == ["b"] and [s for s, w in graph["b"] if w < 0] == ["c"]
    # c's regression on (a, b): [[9, 5], [5, 6]] w = [3, 0], so w = (18, -15) / 29.
    assert dict(graph["c"]) == {"a": pytest.approx(18 / 29), "b": pytest.approx(-15 / 29)}
    assert [s for s, _ in graph["a"]] == ["b", "c"]
    assert [s for s, _ in dict(scoring_graph.regression(sets, ["a", "b", "c"], l2=1.0, k=1))["a"]] == ["b"]


def test_head_is_the_most_frequent_items_ties_by_id():
    assert scoring_graph.head([("x", 2), ("b", 5), ("a", 2), ("c", 1)], 3) == ["b", "a", "x"]


def test_the_covered_items_follow_the_memory_budget_and_an_optional_fixed_cap():
    # 4 bytes per cell (one float32 square, inverted in place): 4 GiB holds 32,768 items, 1 GiB 16,384.
    assert scoring_graph.budget_items(4.0) == 32768
    assert scoring_graph.budget_items(1.0) == 16384
    assert scoring_graph.budget_items(4.0, max_items=2000) == 2000
    assert scoring_graph.budget_items(0.001, max_items=2000) < 2000  # the budget wins when smaller


def test_the_inverse_is_numpys_and_overwrites_the_matrix_it_inverts():
    rng = np.random.default_rng(0)
    x = (rng.random((40, 12)) < 0.3).astype(np.float32)
    gram = x.T @ x + 5.0 * np.eye(12, dtype=np.float32)
    expected = np.linalg.inv(gram.astype(np.float64))
    inverse = scoring_graph.invert_in_place(gram, block=5)  # blocks that do not divide 12
    assert np.shares_memory(inverse, gram)  # no second n x n array
    np.testing.assert_array_equal(inverse, inverse.T)  # both triangles filled
    np.testing.assert_allclose(inverse, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(inverse @ (x.T @ x + 5.0 * np.eye(12)), np.eye(12), atol=1e-4)


def test_no_covered_items_give_no_scoring_edges():
    assert scoring_graph.invert_in_place(np.zeros((0, 0), np.float32)).shape == (0, 0)
    assert list(scoring_graph.regression([np.array([], np.int32)], [], 50.0, 10)) == []


def test_matrices_too_large_for_cholesky_are_inverted_by_lu_in_place(monkeypatch):
    monkeypatch.setattr(scoring_graph, "CHOLESKY_BYTES", 0)  # as for 32,768 items and more
    rng = np.random.default_rng(1)
    x = (rng.random((30, 9)) < 0.4).astype(np.float32)
    gram = x.T @ x + 2.0 * np.eye(9, dtype=np.float32)
    expected = np.linalg.inv(gram.astype(np.float64))
    inverse = scoring_graph.invert_in_place(gram)
    assert np.shares_memory(inverse, gram)
    np.testing.assert_allclose(inverse, expected, rtol=1e-4, atol=1e-6)


def test_an_item_word_is_a_row_of_the_regression_like_a_user_who_met_exactly_its_items():
    # a and c are never met together; a word on both links them as one more such user would.
    sets = [[0, 1], [0, 1], [1, 2], [2]]
    with_word = dict(
        scoring_graph.regression(sets, ["a", "b", "c"], l2=1.0, k=5, words=[[0, 2]], word_weight=1.0)
    )
    as_user = dict(scoring_graph.regression(sets + [[0, 2]], ["a", "b", "c"], l2=1.0, k=5))
    assert with_word.keys() == as_user.keys()
    for item, edges in as_user.items():
        assert [s for s, _ in with_word[item]] == [s for s, _ in edges]
        np.testing.assert_allclose([w for _, w in with_word[item]], [w for _, w in edges], rtol=1e-6)
    behaviour = dict(scoring_graph.regression(sets, ["a", "b", "c"], l2=1.0, k=5))
    assert dict(behaviour["c"])["a"] < 0 < dict(with_word["c"])["a"]
    # weight 0: the word is ignored.
    zero = dict(scoring_graph.regression(sets, ["a", "b", "c"], l2=1.0, k=5, words=[[0, 2]], word_weight=0.0))
    assert {i: [s for s, _ in e] for i, e in zero.items()} == {
        i: [s for s, _ in e] for i, e in behaviour.items()
    }


def test_a_word_counts_only_where_it_labels_two_or_more_covered_items():
    words = [["a", "b", "z"], ["b"], ["z", "y"], ["c", "a", "a"]]
    assert [list(r) for r in scoring_graph.covered(words, ["a", "b", "c"])] == [[0, 1], [0, 2]]


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
        inline = scoring_graph.item_words(p | "Items" >> beam.Create(items))
        assert_that(inline, equal_to([("a", "b"), ("b", "c"), ("a", "b")]), label="Inline")
    with TestPipeline() as p:
        words = scoring_graph.item_words(
            p | "Items" >> beam.Create(items), p | "Tags" >> beam.Create(taggings)
        )
        # rock {a, b}, pop {b, c}, tag 7 {a, c}; the items' own (top) tags are not read twice.
        assert_that(words, equal_to([("a", "b"), ("b", "c"), ("a", "c")]), label="Tagged")


def test_a_block_is_added_in_row_chunks_as_in_one_go():
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(50, 37, replace=False))
    expected = np.zeros((50, 50), np.float32)
    expected[np.ix_(rows, rows)] += 2.5
    gram = np.zeros((50, 50), np.float32)
    scoring_graph.add_block(gram, rows, 2.5, cells=100)  # 2 rows per chunk
    np.testing.assert_array_equal(gram, expected)
