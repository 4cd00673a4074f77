import pytest

from preprocessing import graphs


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
    # 12 bytes per cell: 4 GiB holds an 18,918-item square, 1 GiB a 9,459-item one.
    assert graphs.budget_items(4.0) == 18918
    assert graphs.budget_items(1.0) == 9459
    assert graphs.budget_items(4.0, max_items=2000) == 2000
    assert graphs.budget_items(0.001, max_items=2000) < 2000  # the budget wins when smaller
