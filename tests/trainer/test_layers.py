"""The towers' layers on hand-made tensors: shapes, and that padding is invisible."""

import numpy as np
import tensorflow as tf

from trainer.layers import NeighborAggregation, SequenceEncoder


def test_sequence_encoder_ignores_whatever_sits_in_padded_positions():
    tf.keras.utils.set_random_seed(0)
    encoder = SequenceEncoder(length=4, dim=8, layers=2, heads=2, dropout=0.0)
    items = tf.random.normal([2, 4, 8])
    mask = tf.constant([[True, True, False, False], [True, False, False, False]])
    gaps, weights = tf.zeros([2, 4]), tf.ones([2, 4])
    out = encoder(items, mask, gaps, weights)
    assert out.shape == (2, 16)  # latest position + masked mean
    noisy = tf.where(mask[..., tf.newaxis], items, 100.0 * tf.random.normal([2, 4, 8]))
    np.testing.assert_allclose(encoder(noisy, mask, gaps, weights).numpy(), out.numpy(), atol=1e-5)


def _relative_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_sequence_encoder_reads_order_and_time_gaps_not_only_the_set_of_items():
    tf.keras.utils.set_random_seed(0)
    encoder = SequenceEncoder(length=3, dim=8, layers=1, heads=2, dropout=0.0)
    items = tf.random.normal([1, 3, 8])
    mask = tf.constant([[True, True, True]])
    base = encoder(items, mask, tf.zeros([1, 3]), tf.ones([1, 3])).numpy()
    again = encoder(items, mask, tf.zeros([1, 3]), tf.ones([1, 3])).numpy()
    swapped = encoder(tf.reverse(items, [1]), mask, tf.zeros([1, 3]), tf.ones([1, 3])).numpy()
    later = encoder(items, mask, tf.constant([[0.0, 5.0, 9.0]]), tf.ones([1, 3])).numpy()
    np.testing.assert_array_equal(base, again)  # deterministic: the differences below are the inputs'
    # The same three items in another order, or at other times, move the output by more than 5 %:
    # a bag-of-items encoder would give the first exactly, one blind to time the second.
    assert _relative_change(base, swapped) > 0.05
    assert _relative_change(base, later) > 0.05


def test_neighbor_aggregation_attends_only_to_real_neighbours():
    tf.keras.utils.set_random_seed(0)
    layer = NeighborAggregation(dim=6)
    own = tf.random.normal([2, 4])
    neighbours = tf.random.normal([2, 3, 4])
    mask = tf.constant([[True, True, False], [False, False, False]])
    weights = tf.constant([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    out = layer(own, neighbours, mask, weights)
    assert out.shape == (2, 6)
    noisy = tf.where(mask[..., tf.newaxis], neighbours, 50.0)
    np.testing.assert_allclose(layer(own, noisy, mask, weights).numpy(), out.numpy(), atol=1e-5)
    # no neighbours: the same as aggregating an all-zero neighbourhood
    alone = layer.project(tf.concat([own[1:], tf.zeros([1, 4])], axis=-1))
    np.testing.assert_allclose(out.numpy()[1:], alone.numpy(), atol=1e-6)
