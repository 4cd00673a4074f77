"""Layers of the towers; they know nothing of features, tasks or data.

* ``SequenceEncoder``: a Transformer encoder over the behaviour sequence (most
  recent first) with learned positions and time-gap / event-weight inputs; padding
  is masked out of attention and pooling.
* ``NeighborAggregation``: GraphSAGE-style: combine a node's own vector with a
  weighted, attention-scored mean of its neighbours' vectors.
"""

from __future__ import annotations

import tensorflow as tf


def masked_mean(embeddings: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over axis 1 of the unmasked rows; zeros when every row is padding."""
    weights = tf.cast(mask, embeddings.dtype)[..., tf.newaxis]
    total = tf.reduce_sum(embeddings * weights, axis=1)
    return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


class TransformerBlock(tf.keras.layers.Layer):
    """Pre-norm self-attention and feed-forward, both residual."""

    def __init__(self, dim: int, heads: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.attention = tf.keras.layers.MultiHeadAttention(heads, max(dim // heads, 1), dropout=dropout)
        self.norm2 = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.feed_forward = tf.keras.Sequential(
            [tf.keras.layers.Dense(2 * dim, activation="gelu"), tf.keras.layers.Dense(dim)]
        )
        self.dropout = tf.keras.layers.Dropout(dropout)

    def call(self, x: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        pair_mask = tf.logical_and(mask[:, :, tf.newaxis], mask[:, tf.newaxis, :])
        h = self.norm1(x)
        x = x + self.dropout(
            self.attention(h, h, attention_mask=pair_mask, training=training), training=training
        )
        return x + self.dropout(self.feed_forward(self.norm2(x)), training=training)


class SequenceEncoder(tf.keras.layers.Layer):
    """Item embeddings + positions + (log time gap, log event weight) -> Transformer -> pooled vector.

    The pooled vector concatenates the encoding at position 0 (the latest event,
    which best predicts the next) with the masked mean over all positions.
    """

    def __init__(self, length: int, dim: int, layers: int, heads: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.positions = self.add_weight(
            name="positions", shape=(length, dim), initializer=tf.keras.initializers.RandomNormal(stddev=0.02)
        )
        self.context = tf.keras.layers.Dense(dim, use_bias=False)
        self.blocks = [TransformerBlock(dim, heads, dropout, name=f"block_{i}") for i in range(layers)]
        self.norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout = tf.keras.layers.Dropout(dropout)

    def call(
        self, items: tf.Tensor, mask: tf.Tensor, gaps: tf.Tensor, weights: tf.Tensor, training: bool = False
    ) -> tf.Tensor:
        context = tf.stack([gaps, tf.math.log1p(tf.maximum(weights, 0.0))], axis=-1)
        x = items + self.positions[tf.newaxis, : tf.shape(items)[1]] + self.context(context)
        x = self.dropout(x, training=training) * tf.cast(mask, x.dtype)[..., tf.newaxis]
        for block in self.blocks:
            x = block(x, mask, training=training)
        x = self.norm(x)
        latest = x[:, 0] * tf.cast(mask[:, :1], x.dtype)
        return tf.concat([latest, masked_mean(x, mask)], axis=-1)


class NeighborAggregation(tf.keras.layers.Layer):
    """``[self ; sum_j a_j * neighbour_j]`` with ``a = softmax(score(neighbour) + log(1 + weight))``.

    Padding neighbours get no attention; a node without neighbours aggregates to zeros.
    """

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.score = tf.keras.layers.Dense(1)
        self.project = tf.keras.layers.Dense(dim, activation="gelu")

    def call(self, own: tf.Tensor, neighbours: tf.Tensor, mask: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        logits = tf.squeeze(self.score(neighbours), -1) + tf.math.log1p(tf.maximum(weights, 0.0))
        logits = tf.where(mask, logits, tf.fill(tf.shape(logits), -1e9))
        attention = tf.nn.softmax(logits, axis=-1) * tf.cast(mask, logits.dtype)
        pooled = tf.reduce_sum(attention[..., tf.newaxis] * neighbours, axis=1)
        return self.project(tf.concat([own, pooled], axis=-1))
