"""PROTOCOL.md metrics against a hand-computed example."""

import math

import numpy as np
import pytest

from msrec import metrics


def test_ranks_exclude_seen_items_but_never_the_target():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5]])
    # user 0: target 3 (0.6); items 0 and 1 are seen -> only item 2 beats it -> rank 2
    # user 1: target 0 (0.1); nothing excluded, the target listed as seen is kept -> rank 5
    assert metrics.ranks(scores, np.array([3, 0]), [[0, 1], [0]]).tolist() == [2, 5]


def test_ties_count_against_the_target_as_protocol_md_says():
    # Two other items score the same as the target: r = 1 + 2.
    assert metrics.ranks(np.array([[1.0, 1.0, 1.0]]), np.array([2]), [[]]).tolist() == [3]
    # An excluded item tied with the target does not count.
    assert metrics.ranks(np.array([[1.0, 1.0, 0.5]]), np.array([1]), [[0]]).tolist() == [1]


def test_ranks_from_served_lists_equal_full_ranks_when_the_target_is_listed():
    scores = np.array([[0.9, 0.5, 0.7, 0.5, 0.1], [0.2, 0.8, 0.6, 0.4, 0.3], [0.9, 0.5, 0.7, 0.5, 0.1]])
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :3]  # served top-3 lists
    lists, list_scores = ids[order], np.take_along_axis(scores, order, axis=1)
    full = metrics.ranks(scores, np.array([2, 4, 1]), [[], [], []])
    served = metrics.ranks_in_lists(lists, list_scores, ["c", "e", "b"])
    assert full.tolist() == [2, 4, 4]
    assert served[0] == 2  # listed: the same rank
    assert served[1] == metrics.NOT_RANKED  # e is not in user 1's top 3
    # b is listed third, tied with d (0.5), which the list cut off: the list can only see rank 3.
    assert served[2] == 3


def test_precision_recall_and_f1_at_10_with_one_test_item_per_user():
    out = metrics.summarize(np.array([1, 3, 15, 40]))
    assert out["Recall@10"] == pytest.approx(0.5)
    assert out["Precision@10"] == pytest.approx(0.05)
    assert out["F1@10"] == pytest.approx((2 * 0.1 * 1 / 1.1) / 2)


def test_a_target_missing_from_a_served_list_is_a_miss_everywhere():
    out = metrics.summarize(np.array([2, metrics.NOT_RANKED]))
    assert out["HR@20"] == pytest.approx(0.5)
    assert out["NDCG@10"] == pytest.approx(1 / math.log2(3) / 2)
    assert out["MRR"] == pytest.approx(0.25)


def test_summary_matches_hand_computation():
    out = metrics.summarize(np.array([1, 3, 15, 40]))
    assert out["HR@10"] == pytest.approx(0.5)
    assert out["HR@20"] == pytest.approx(0.75)
    assert out["NDCG@10"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert out["NDCG@20"] == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(16)) / 4)
    assert out["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 15 + 1 / 40) / 4)
    assert out["num_users"] == 4


def test_top_lists_skip_excluded_items_and_rank_best_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]])
    assert metrics.top_lists(scores, [[1], []], k=2).tolist() == [[3, 2], [0, 1]]


def test_coverage_and_novelty_by_hand():
    lists = np.array([[0, 1], [0, 2]])
    counts = np.array([6, 2, 0, 0])  # shares with add-one smoothing: 7/12, 3/12, 1/12, 1/12
    out = metrics.beyond_accuracy(lists, counts, k=2)
    assert out["Coverage@2"] == pytest.approx(3 / 4)
    expected = (2 * -math.log2(7 / 12) - math.log2(3 / 12) - math.log2(1 / 12)) / 4
    assert out["Novelty@2"] == pytest.approx(expected)


def test_history_segments_are_one_two_three_five_six_twenty_and_more():
    names = [metrics.history_segment(n) for n in (1, 2, 3, 5, 6, 20, 21, 400)]
    assert names == [
        "users: 1-2 known items",
        "users: 1-2 known items",
        "users: 3-5",
        "users: 3-5",
        "users: 6-20",
        "users: 6-20",
        "users: >20",
        "users: >20",
    ]


def test_metrics_by_history_segment_keep_only_segments_with_users_shortest_first():
    got = metrics.by_history(np.array([1, 3, 20, 2]), known=[25, 1, 2, 30])
    assert list(got) == ["users: 1-2 known items", "users: >20"]
    assert got["users: 1-2 known items"]["num_users"] == 2
    assert got["users: 1-2 known items"]["HR@10"] == 0.5  # ranks 3 and 20
    assert got["users: >20"]["NDCG@10"] == (1.0 + 1 / np.log2(3)) / 2  # ranks 1 and 2
