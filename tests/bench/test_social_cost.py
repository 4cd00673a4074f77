"""bench/social_cost.py: the friends' evidence in core TF ops equals the offline measurement's term."""

import numpy as np
import pytest

from bench import social_cost, social_signals
from tests.bench.test_social_signals import FRIENDS, PAIRS, _items


def _tables():
    """The toy of test_social_signals as the export would hold it: friend rows padded with -1,
    normalised weights, known items as ragged row splits."""
    rows = np.full((4, 2), -1, np.int32)
    weights = np.zeros((4, 2), np.float32)
    for user in range(4):
        start, end = FRIENDS.indptr[user], FRIENDS.indptr[user + 1]
        rows[user, : end - start] = FRIENDS.indices[start:end]
        weights[user, : end - start] = FRIENDS.data[start:end] / FRIENDS.data[start:end].sum()
    pairs = PAIRS[np.lexsort((PAIRS[:, 1], PAIRS[:, 0]))]
    splits = np.concatenate([[0], np.cumsum(np.bincount(pairs[:, 0], minlength=4))]).astype(np.int64)
    return rows, weights, splits, pairs[:, 1].astype(np.int32)


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_served_friends_evidence_equals_the_measured_term(decay):
    rows, weights, splits, items = _tables()
    users = np.array([3, 0, 2], np.int32)
    got = social_cost.friends_evidence(users, rows, weights, splits, items, 5, decay).numpy()
    expected = social_signals.friends_term(FRIENDS, _items(), tie=True, decay=decay)(users)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_random_tables_have_the_asked_scale_and_normalised_ties():
    found = social_cost.tables(users=50, items=30, per_user=4, friends=3)
    assert found["friend_rows"].shape == (50, 3) and found["known_items"].shape == (200,)
    assert found["known_splits"][-1] == 200 and found["known_items"].max() < 30
    np.testing.assert_allclose(found["friend_weights"].sum(axis=1), 1.0, rtol=1e-6)
    ms = social_cost.measure(found, 30, batches=(2,), repeats=2)
    assert set(ms) == {"B=2, decay 0", "B=2, decay 0.5"} and all(v > 0 for v in ms.values())
