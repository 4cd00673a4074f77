"""bench/social_signals.py: the social terms against their dense formulas, the cross-fitted choice of
the mixing weight, and a run on the tiny corpus (VALIDATION only)."""

import numpy as np
import pytest
from scipy import sparse

from bench import peers, social_signals
from bench.interactions import Interactions

# 4 users, 5 items. u0 -> u1 (tie 3), u2 (tie 1); u1 -> u0 (tie 3); u2 -> u3 (tie 2).
PAIRS = np.array([[0, 0], [1, 1], [1, 2], [2, 3], [3, 4], [3, 1]])
FRIENDS = sparse.csr_matrix(
    (np.array([3.0, 1.0, 3.0, 2.0], np.float32), ([0, 0, 1, 2], [1, 2, 0, 3])), shape=(4, 4)
)


def _items() -> sparse.csr_matrix:
    return social_signals.item_matrix(Interactions(4, 5, PAIRS))


def test_friends_evidence_weighs_each_friends_items_by_tie_strength():
    term = social_signals.friends_term(FRIENDS, _items(), tie=True, decay=0.0)
    got = term(np.array([0, 3]))
    # u0: u1's items (1, 2) at 3/4, u2's item (3) at 1/4; u3 has no friend list.
    np.testing.assert_allclose(got, [[0, 0.75, 0.75, 0.25, 0], [0, 0, 0, 0, 0]])
    uniform = social_signals.friends_term(FRIENDS, _items(), tie=False, decay=0.0)(np.array([0]))
    np.testing.assert_allclose(uniform, [[0, 0.5, 0.5, 0.5, 0]])


def test_friends_of_friends_add_their_items_decayed_through_both_ties():
    got = social_signals.friends_term(FRIENDS, _items(), tie=True, decay=0.5)(np.array([0]))
    # Through u1 (3/4) back to u0 (1): u0's own item 0; through u2 (1/4) to u3 (1): items 4 and 1.
    expected = np.array([0, 0.75, 0.75, 0.25, 0]) + 0.5 * np.array([0.75, 0.25, 0, 0, 0.25])
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)


@pytest.mark.parametrize("beta,layers", [(0.0, 2), (1.0, 2), (0.5, 3)])
def test_propagation_is_lightgcns_layer_sum_squared_at_user_item(beta, layers):
    items = _items().toarray()
    social = ((FRIENDS + FRIENDS.T) > 0).toarray().astype(float) * beta
    a = np.block([[social, items], [items.T, np.zeros((5, 5))]])
    degree = a.sum(axis=1)
    norm = a / np.sqrt(np.outer(degree, degree))
    layer_sum = sum(np.linalg.matrix_power(norm, k) for k in range(layers + 1))
    expected = (layer_sum @ layer_sum)[:4, 4:]
    adjacency = social_signals.adjacency(_items(), FRIENDS, beta)
    got = social_signals.propagation_term(adjacency, 4, layers)(np.arange(4))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if beta == 0.0:  # without friends nothing reaches u0: its only item is nobody else's
        np.testing.assert_allclose(got[0, 1:], 0.0, atol=1e-7)


def test_the_crossfitted_weight_is_the_other_folds_best():
    base = np.array([1, 50, 1, 50])  # EASE^R alone: users 0 and 2 hit at rank 1
    grid = np.array([[50, 1, 50, 1], [2, 2, 2, 2]])  # w1 favours users 1 and 3; w2 gives rank 2 to all
    fold = np.array([0, 0, 1, 1])
    got, chosen = social_signals.crossfit(grid, base, fold, np.zeros(4, int), (1.0, 2.0))
    # In each fold EASE^R alone and w1 hit one user of two (mean NDCG@10 0.5); w2's rank 2 for both
    # (0.63) is better, so every user gets w2's rank.
    assert got.tolist() == [2, 2, 2, 2] and chosen == {"0": [2.0, 2.0]}
    by_group, chosen = social_signals.crossfit(grid, base, fold, np.array([0, 1, 0, 1]), (1.0, 2.0))
    # Group 0 (users 0, 2): base ranks them 1 in the other fold; group 1 (users 1, 3): w1 does.
    assert by_group.tolist() == [1, 1, 1, 1] and chosen == {"0": [0.0, 0.0], "1": [1.0, 1.0]}


def test_run_on_the_tiny_corpus_reads_validation_and_ranks_every_term(tiny_data):
    result = social_signals.run(tiny_data, [1.0], (0.1, 1.0), resamples=50, log=lambda s: None)
    assert result["split"] == "validation"
    catalog, user_index, pairs, validation, test = peers.load(tiny_data)
    train = Interactions(len(user_index), len(catalog), pairs)
    ease = peers.evaluate(peers.ease(train, 1.0), train, validation, user_index)
    assert result["base"]["overall"]["NDCG@10"] == pytest.approx(ease["NDCG@10"])
    assert result["base"]["overall"]["num_users"] == len(validation.users) == 3
    assert set(result["terms"]) == {
        "friends (tie strength)",
        "friends (uniform)",
        "friends + friends of friends (decay 0.5)",
        "propagation K=2, behaviour only",
        "propagation K=2, with friends",
        "propagation K=3, with friends",
    }
    for term in result["terms"].values():
        assert term["weight"] in (0.0, 0.1, 1.0)
        assert term["crossfit"]["overall"]["num_users"] == 3
    assert "| EASE^R + friends (tie strength) |" in social_signals.table(result)
