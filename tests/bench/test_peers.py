"""bench/peers.py's peers against their dense textbook formulas on a toy matrix (numpy only)."""

import numpy as np
import pytest

from bench import peers  # noqa: E402
from msrec import metrics

# 7 users x 6 items; item 5 has no interaction (it must score 0 and stay rankable). No item's
# cosine similarities tie at the cut of its 1 or 2 nearest neighbours.
X = np.array(
    [
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [0, 1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [1, 0, 0, 1, 1, 0],
        [1, 1, 0, 1, 0, 0],
        [0, 0, 0, 1, 1, 0],
    ],
    dtype=np.float32,
)
PAIRS = np.argwhere(X > 0)


def _data():
    return peers.Interactions(X.shape[0], X.shape[1], PAIRS)


def _histories():
    return [np.flatnonzero(row) for row in X]


def test_gram_and_popularity():
    data = _data()
    assert list(data.items) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(data.gram(), (X.T @ X)[:5, :5])
    np.testing.assert_array_equal(data.popularity(), X.sum(axis=0))


def test_ease_matches_the_closed_form():
    lam = 2.0
    g = (X.T @ X).astype(np.float64)[:5, :5] + lam * np.eye(5)
    p = np.linalg.inv(g)
    b = np.eye(5) - p / np.diag(p)
    expected = np.zeros_like(X, dtype=np.float64)
    expected[:, :5] = X[:, :5] @ b
    got = peers.ease(_data(), lam)(_histories())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert (got[:, 5] == 0).all()


@pytest.mark.parametrize("k", [0, 1, 2])
def test_item_knn_keeps_each_history_items_k_neighbours(k):
    g = (X.T @ X)[:5, :5]
    n = np.sqrt(np.diag(g))
    sim = g / n[:, None] / n[None, :]
    np.fill_diagonal(sim, 0.0)
    if k:
        for i in range(5):
            keep = np.argsort(-sim[i], kind="stable")[:k]
            drop = np.setdiff1d(np.arange(5), keep)
            sim[i, drop] = 0.0
    expected = np.zeros_like(X)
    expected[:, :5] = X[:, :5] @ sim
    got = peers.item_knn(_data(), k)(_histories())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_evaluate_uses_the_protocols_ranks():
    data = _data()
    split = peers.Split(["u0"], np.array([5]), [np.array([0, 1])])
    pop = peers.most_popular(data)
    result = peers.evaluate(pop, data, split, {"u0": 0})
    # item 5 scores 0: every other non-excluded item (2, 3, 4) scores more -> rank 4
    assert result == metrics.summarize(np.array([4]))


def test_a_history_item_the_fit_never_saw_adds_nothing():
    # Item 5 has no interaction in the fit (a VALIDATION item scored by a TRAIN-only fit): its row of
    # B is zero, so a history with it scores as the history without it.
    scorer = peers.ease(_data(), 2.0)
    with_unseen = scorer([np.array([0, 5]), np.array([5])])
    np.testing.assert_allclose(with_unseen, scorer([np.array([0]), np.array([], np.int64)]))
    assert (with_unseen[1] == 0).all()


def test_test_metrics_by_history_length_add_up_to_the_overall_ones(tiny_data):
    result = peers.run(tiny_data, [10], [1.0], log=lambda s: None)
    for system in result["systems"].values():
        segments = system["segments"]
        # u2 knows 2 items at TEST (i3 twice is one pair), u1 and u4 know 3 each.
        assert {name: m["num_users"] for name, m in segments.items()} == {
            "users: 1-2 known items": 1,
            "users: 3-5": 2,
        }
        hits = sum(m["HR@10"] * m["num_users"] for m in segments.values())
        assert hits == pytest.approx(system["test"]["HR@10"] * result["users_evaluated"])


def test_records_keep_numbers_as_numbers_and_decode_strings(tiny_data):
    from bench.interactions import records
    from msrec import features as F

    users = records(tiny_data, "users", [F.USER_ID, F.FRIEND_IDS, F.FRIEND_WEIGHTS])
    lists = zip(users[F.FRIEND_IDS], users[F.FRIEND_WEIGHTS], strict=True)
    friends = dict(zip(users[F.USER_ID], lists, strict=True))
    ids, weights = friends["u2"]
    # u2's friends are u1 and u4 (social.csv), tie strength 1 + TRAIN items in common: u2's TRAIN is
    # {i2}, u1's {i1, i2}, u4's {i4, i1} (each user's last two events are VALIDATION and TEST).
    assert dict(zip(ids, weights, strict=True)) == {"u1": 2.0, "u4": 1.0}
