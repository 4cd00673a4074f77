"""PROTOCOL.md metrics against a hand-computed example."""

import math

import numpy as np
import pytest

from trainer import metrics


def test_ranks_exclude_seen_items_but_never_the_target():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5]])
    # user 0: target 3 (0.6); items 0 and 1 are seen -> only item 2 beats it -> rank 2
    # user 1: target 0 (0.1); nothing excluded, the target listed as seen is kept -> rank 5
    assert metrics.ranks(scores, np.array([3, 0]), [[0, 1], [0]]).tolist() == [2, 5]


def test_ties_resolve_in_the_targets_favour():
    assert metrics.ranks(np.array([[1.0, 1.0, 1.0]]), np.array([2]), [[]]).tolist() == [1]


def test_summary_matches_hand_computation():
    out = metrics.summarize(np.array([1, 3, 15, 40]))
    assert out["HR@10"] == pytest.approx(0.5)
    assert out["HR@20"] == pytest.approx(0.75)
    assert out["NDCG@10"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert out["NDCG@20"] == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(16)) / 4)
    assert out["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 15 + 1 / 40) / 4)
    assert out["num_users"] == 4
