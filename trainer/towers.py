"""The two towers: query (user) and candidate (item) encoders, one part per source.

Both towers read the feature contract's inputs by name and look strings up in
the vocabulary files preprocessing wrote (SavedModel assets on export). The item
id table is shared by the candidate tower, the query tower's history and the
item-graph neighbours; the user id table by the user and their friends, so every
part speaks the same space. Index 0 is the padding mask; index 1 the OOV bucket.

``ModelConfig.sources`` switches parts on and off: ``id``, ``sequence``,
``content``, ``profile``, ``social``, ``item_graph``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec.config import ModelConfig
from trainer.layers import NeighborAggregation, SequenceEncoder, masked_mean

OOV_INDEX = 1


class Vocabulary(tf.keras.layers.Layer):
    """StringLookup over a vocabulary file plus an embedding; pads map to index 0."""

    def __init__(self, vocabulary: str | list[str], dim: int, oov_buckets: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.lookup = tf.keras.layers.StringLookup(
            vocabulary=vocabulary, mask_token=F.PAD, num_oov_indices=oov_buckets
        )
        self.embedding = tf.keras.layers.Embedding(self.lookup.vocabulary_size(), dim)

    def call(self, values: tf.Tensor, dropout: float = 0.0, training: bool = False):
        """Returns ``(embeddings, mask)``; in training a ``dropout`` share of ids become OOV."""
        ids = self.lookup(values)
        if training and dropout > 0:
            drop = tf.logical_and(tf.random.uniform(tf.shape(ids)) < dropout, ids > OOV_INDEX)
            ids = tf.where(drop, tf.cast(OOV_INDEX, ids.dtype), ids)
        return self.embedding(ids), tf.not_equal(ids, 0)


class ItemText(tf.keras.layers.Layer):
    """An item's frozen sentence vector (``msrec/text``), looked up by id, through a trained projection.

    The vectors stay as preprocessing computed them (not trained), so an item whose id the
    model never learned still lands near items of similar text; a caller that has the vector
    itself (a new item embedded at serving time) passes it instead of the id.
    """

    def __init__(self, item_ids: list[str], vectors: np.ndarray, dim: int, **kwargs):
        super().__init__(**kwargs)
        rows = np.arange(1, len(item_ids) + 1, dtype=np.int64)
        self.rows = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(item_ids, tf.string), tf.constant(rows)), 0
        )
        self.vectors = tf.Variable(_padded(vectors), trainable=False, name="item_text_vectors")
        self.projection = tf.keras.layers.Dense(dim, name="text_projection")

    def reset_vectors(self, vectors: np.ndarray) -> None:
        """Puts back ``vectors`` (the ones this layer was built with, in its id table's order).

        They are data, not weights: a checkpoint holds them in the order of the data directory
        the model was trained on, which a rerun of preprocessing (shards, workers) may change.
        """
        self.vectors.assign(_padded(vectors))

    def vector_of(self, item_ids: tf.Tensor) -> tf.Tensor:
        """The stored vector of each id; zeros for an item whose text was not embedded."""
        return tf.gather(self.vectors, self.rows.lookup(item_ids))

    def call(self, item_ids: tf.Tensor, vectors: tf.Tensor | None = None) -> tf.Tensor:
        return self.projection(self.vector_of(item_ids) if vectors is None else vectors)


def _padded(vectors: np.ndarray) -> np.ndarray:
    """Row 0 (unknown ids) zeros, then ``vectors``."""
    return np.concatenate([np.zeros((1, vectors.shape[1]), np.float32), vectors.astype(np.float32)])


def _mlp(hidden: tuple[int, ...], out_dim: int, name: str) -> tf.keras.Sequential:
    layers = [tf.keras.layers.Dense(h, activation="gelu") for h in hidden]
    return tf.keras.Sequential(layers + [tf.keras.layers.Dense(out_dim)], name=name)


def vocabularies(values: Mapping[str, str | list[str]], config: ModelConfig) -> dict[str, Vocabulary]:
    """One ``Vocabulary`` layer per vocabulary (its values, or its file: an asset on export)."""
    return {
        name: Vocabulary(vocab, config.embedding_dim, config.oov_buckets, name=f"{name}_vocab")
        for name, vocab in values.items()
    }


class QueryTower(tf.keras.Model):
    """User id, behaviour sequence, profile and friends -> unit query vector."""

    def __init__(self, vocabs: dict[str, Vocabulary], config: ModelConfig, history_length: int, **kwargs):
        super().__init__(**kwargs)
        on, dim = set(config.sources), config.embedding_dim
        self.id_dropout = config.id_dropout
        self.items = vocabs[F.ITEM_VOCAB]
        self.users = vocabs.get(F.USER_VOCAB) if on & {"id", "social"} else None
        self.use_id = "id" in on and self.users is not None
        self.sequence = None
        # The history is most recent first: the encoder attends over its first sequence_length events.
        # Its weights are sized by the stored history, so the window can change without new shapes.
        self.sequence_length = min(config.sequence_length, history_length)
        if "sequence" in on:
            self.sequence = SequenceEncoder(
                history_length,
                dim,
                config.transformer_layers,
                config.attention_heads,
                config.dropout,
                name="sequence",
            )
        self.attributes = vocabs.get(F.ATTRIBUTE_VOCAB) if "profile" in on else None
        self.social = NeighborAggregation(dim, name="social") if "social" in on and self.users else None
        if not (self.use_id or self.sequence or self.attributes or self.social):
            raise ValueError("the query tower needs one of the sources id, sequence, profile, social")
        self.mlp = _mlp(config.hidden_dims, dim, "query_mlp")

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        parts, own = [], None
        if self.users is not None:
            own = self.users(inputs[F.USER_ID], dropout=self.id_dropout, training=training)[0]
            if self.use_id:
                parts.append(own)
        if self.sequence is not None:
            n = self.sequence_length
            history, mask = self.items(inputs[F.HISTORY_ITEM_IDS][:, :n])
            gaps, weights = inputs[F.HISTORY_TIME_GAPS][:, :n], inputs[F.HISTORY_WEIGHTS][:, :n]
            parts.append(self.sequence(history, mask, gaps, weights, training=training))
        if self.attributes is not None:
            parts.append(masked_mean(*self.attributes(inputs[F.USER_ATTRIBUTES])))
        if self.social is not None:
            friends, mask = self.users(inputs[F.FRIEND_IDS])
            own_part = own if self.use_id else tf.zeros_like(friends[:, 0])
            parts.append(self.social(own_part, friends, mask, inputs[F.FRIEND_WEIGHTS]))
        return tf.math.l2_normalize(self.mlp(tf.concat(parts, axis=-1)), axis=-1)


class CandidateTower(tf.keras.Model):
    """Item id, content (categories, tags, title words) and co-occurrence neighbours -> unit item vector."""

    CONTENT = (
        (F.ITEM_CATEGORIES, F.CATEGORY_VOCAB),
        (F.ITEM_TAGS, F.TAG_VOCAB),
        (F.ITEM_TITLE_TOKENS, F.TOKEN_VOCAB),
    )

    def __init__(
        self, vocabs: dict[str, Vocabulary], config: ModelConfig, text: ItemText | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        on = set(config.sources)
        self.text = text if "text" in on else None
        self.id_dropout = config.id_dropout
        self.items = vocabs[F.ITEM_VOCAB]
        self.use_id = "id" in on
        self.content = {f: vocabs[v] for f, v in self.CONTENT if v in vocabs} if "content" in on else {}
        self.graph = (
            NeighborAggregation(config.embedding_dim, name="item_graph") if "item_graph" in on else None
        )
        self.mlp = _mlp(config.hidden_dims, config.embedding_dim, "candidate_mlp")

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        own = self.items(inputs[F.ITEM_ID], dropout=self.id_dropout, training=training)[0]
        parts = [own] if self.use_id else []
        for feature, vocab in self.content.items():
            parts.append(masked_mean(*vocab(inputs[feature])))
        if self.graph is not None:
            neighbours, mask = self.items(inputs[F.ITEM_NEIGHBOR_IDS])
            own_part = own if self.use_id else tf.zeros_like(neighbours[:, 0])
            parts.append(self.graph(own_part, neighbours, mask, inputs[F.ITEM_NEIGHBOR_WEIGHTS]))
        if self.text is not None:  # a given vector (a new item's text, embedded) wins over the stored one
            parts.append(self.text(inputs[F.ITEM_ID], inputs.get(F.ITEM_TEXT_VECTOR)))
        if not parts:
            raise ValueError("the candidate tower needs one of the sources id, content, item_graph, text")
        return tf.math.l2_normalize(self.mlp(tf.concat(parts, axis=-1)), axis=-1)
