"""Partitioned retrieval against brute force on a small random catalogue, with every scorer term."""

import numpy as np
import pytest
import tensorflow as tf

from msrec.config import ServingConfig
from trainer import partitions
from trainer.filters import ItemAttributes, Request
from trainer.retrieval import Plan, Retriever
from trainer.scoring import ColdText, Scorer

N, D, K = 60, 8, 5
RNG = np.random.default_rng(7)
ITEMS = [f"i{i:02d}" for i in range(N)]
# Three clusters of unit vectors, so that partitions mean something.
CENTRES = RNG.standard_normal((3, D))
VECTORS = CENTRES[np.arange(N) % 3] + 0.3 * RNG.standard_normal((N, D))
VECTORS = (VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)).astype(np.float32)
# Each item's sources: three random items with weights in [-1, 2].
GRAPH = {
    item: [
        (ITEMS[j], float(w))
        for j, w in zip(RNG.choice(N, 3, replace=False), RNG.uniform(-1, 2, 3), strict=True)
    ]
    for item in ITEMS
}
COLD = np.zeros(N, bool)
COLD[[4, 17, 33]] = True
POPULARITY = RNG.dirichlet(np.ones(N))


def scorer(graph_weight=2.0, cold=True):
    term = None
    if cold:
        text = RNG.standard_normal((N, D)).astype(np.float32)
        term = ColdText(text / np.linalg.norm(text, axis=1, keepdims=True), COLD, 1.5, -0.5)
    return Scorer(ITEMS, VECTORS, GRAPH, temperature=0.2, graph_weight=graph_weight, cold=term)


def request(rows=4):
    queries = VECTORS[RNG.choice(N, rows)] + 0.2 * RNG.standard_normal((rows, D)).astype(np.float32)
    history = np.full((rows, 6), "", dtype=object)
    for r in range(rows):
        history[r, : r + 1] = RNG.choice(ITEMS, r + 1, replace=False)
    return tf.constant(queries, tf.float32), tf.constant(history)


def test_partitions_are_deterministic_and_hold_every_item_once():
    first, again = partitions.partition(VECTORS, 6), partitions.partition(VECTORS, 6)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.centroids, again.centroids)
    assert sorted(first.members.tolist()) == list(range(N))
    for p in range(first.count):
        inside = first.members[first.splits[p] : first.splits[p + 1]]
        assert (first.labels[inside] == p).all()


def test_new_items_land_in_their_nearest_partition_without_moving_the_others():
    trained = partitions.partition(VECTORS, 6)
    grown = partitions.partition(np.concatenate([VECTORS, VECTORS[:2] * 0.9]), 6, fitted_on=N)
    np.testing.assert_array_equal(grown.labels[:N], trained.labels)
    assert grown.labels[N:].tolist() == trained.labels[:2].tolist()


@pytest.mark.parametrize(
    "serving, items, expected",
    [
        (ServingConfig(), 49_999, (0, 0)),
        (ServingConfig(), 100_000, (1265, 160)),
        (ServingConfig(), 1_000_000, (4000, 160)),
        (ServingConfig(partitions=8), 60, (8, 8)),
        (ServingConfig(partitions=200), 60_000, (200, 160)),
        (ServingConfig(partitions=8, probes=3), 60, (8, 3)),
        (ServingConfig(brute_force_below=10, probes=2), 100, (40, 2)),
    ],
)
def test_plan_brute_forces_small_catalogues_and_obeys_its_settings(serving, items, expected):
    assert partitions.plan(items, serving) == expected


def retrievers(scorer_, count=6, probes=None):
    parts = partitions.partition(VECTORS, count)
    exact = Retriever(scorer_, K, POPULARITY)
    probed = Retriever(scorer_, K, POPULARITY, Plan(parts, parts.count if probes is None else probes))
    return exact, probed, parts


@pytest.mark.parametrize("graph_weight, cold", [(0.0, False), (2.0, False), (2.0, True)])
def test_probing_every_partition_answers_exactly_what_brute_force_answers(graph_weight, cold):
    exact, probed, _ = retrievers(scorer(graph_weight, cold))
    queries, history = request()
    known = tf.constant([True, False, True, True])
    exclude = tf.constant([[0, 1], [2, 5], [2, 6], [1, 0]], tf.int64)
    for rules_of in (lambda r: r.rules(), lambda r: r.rules(exclude=exclude)):
        want = exact.exact(queries, history, known, rules_of(exact))
        got = probed.probed(queries, history, known, rules_of(probed))
        np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
        np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-5)


def test_items_the_graph_evidence_reaches_are_scored_from_unprobed_partitions():
    exact, probed, parts = retrievers(scorer(graph_weight=50.0, cold=False), count=6, probes=1)
    queries, history = request(rows=3)
    scores, positions = probed.probed(queries, history, None, probed.rules())
    chosen = np.argmax(queries.numpy() @ parts.centroids.T, axis=1)
    outside = [
        [p for p in row if parts.labels[p] != c] for row, c in zip(positions.numpy(), chosen, strict=True)
    ]
    assert any(outside), "with a large graph weight the evidence items lead, wherever they lie"
    # Every answered item carries its exact score: the evidence items' as brute force scores them.
    full = scorer(graph_weight=50.0, cold=False)(queries, history).numpy()
    np.testing.assert_allclose(scores.numpy(), np.take_along_axis(full, positions.numpy(), 1), rtol=1e-5)


def filtered(parts, queries, by_attribute):
    """Rules of a request whose second row wants only K items of partitions no row probes."""
    chosen = np.argmax(queries.numpy() @ parts.centroids.T, axis=1)
    far = [i for i in range(N) if parts.labels[i] not in chosen][:K]
    attributes = ItemAttributes([["tag:far"] if i in far else ["tag:near"] for i in range(N)])
    none = tf.fill([2, 1], tf.constant(-1, tf.int64))
    if by_attribute:  # tag:far has id 0 (sorted names)
        wanted = Request(
            none,
            none,
            tf.constant([[-1], [0]], tf.int64),
            none,
            *tf.constant([[False, False], [False, True]]),
        )
    else:
        wanted = Request(
            tf.constant([[-1] * K, far], tf.int64),
            none,
            none,
            none,
            *tf.constant([[False, True], [False, False]]),
        )
    return far, attributes, wanted


@pytest.mark.parametrize("by_attribute", [False, True])
def test_named_items_are_scored_anywhere_and_a_short_row_falls_back_to_brute_force(by_attribute):
    exact, probed, parts = retrievers(scorer(0.0, False), count=6, probes=1)
    queries, history = request(rows=2)
    far, attributes, wanted = filtered(parts, queries, by_attribute)
    _, positions = probed.top_k(queries, history, None, probed.rules(wanted=wanted, attributes=attributes))
    assert sorted(positions.numpy()[1].tolist()) == sorted(far)
    want = exact.exact(queries, history, None, exact.rules(wanted=wanted, attributes=attributes))
    np.testing.assert_array_equal(positions.numpy()[1], want[1].numpy()[1])
    # Named items are candidates wherever they lie, so the rows stay partitioned; an attribute
    # only far items have leaves the second row short, and the whole request is brute force.
    assert (positions.numpy()[0].tolist() == want[1].numpy()[0].tolist()) == by_attribute


def test_unknown_users_get_popularity_without_blocked_items_in_both_modes():
    blocked = np.zeros(N, bool)
    top = np.argsort(-POPULARITY, kind="stable")
    blocked[top[:2]] = True
    parts = partitions.partition(VECTORS, 6)
    queries, history = request(rows=2)
    for plan in (Plan(blocked=blocked), Plan(parts, 2, blocked)):
        retriever = Retriever(scorer(0.0, False), K, POPULARITY, plan)
        scores, positions = retriever.top_k(queries, history, tf.constant([False, False]), retriever.rules())
        assert positions.numpy().tolist() == [top[2 : 2 + K].tolist()] * 2
        np.testing.assert_allclose(scores.numpy()[0], POPULARITY[top[2 : 2 + K]], rtol=1e-6)
