"""The two towers: query (user) and candidate (item) encoders.

Both towers read the feature contract's inputs by name and look their strings up
in the vocabulary files preprocessing wrote (which become SavedModel assets on
export). The item id embedding is one table shared by the candidate tower and
the query tower's history, so a user is encoded in the same space as the items
they consumed. Index 0 is the padding mask; index 1 the OOV bucket.
"""

from __future__ import annotations

import tensorflow as tf

from msrec import features as F
from msrec import paths
from msrec.config import ModelConfig


class Vocabulary(tf.keras.layers.Layer):
    """StringLookup over a vocabulary file plus an embedding; pads map to index 0."""

    def __init__(self, vocab_path: str, dim: int, oov_buckets: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.lookup = tf.keras.layers.StringLookup(
            vocabulary=vocab_path, mask_token=F.PAD, num_oov_indices=oov_buckets
        )
        self.embedding = tf.keras.layers.Embedding(self.lookup.vocabulary_size(), dim)

    def call(self, values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(embeddings, mask)``; the mask is False on padding."""
        ids = self.lookup(values)
        return self.embedding(ids), tf.not_equal(ids, 0)


def masked_mean(embeddings: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over axis 1 of the unmasked rows; zeros when every row is padding."""
    weights = tf.cast(mask, embeddings.dtype)[..., tf.newaxis]
    total = tf.reduce_sum(embeddings * weights, axis=1)
    return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


def _mlp(hidden: tuple[int, ...], out_dim: int, name: str) -> tf.keras.Sequential:
    layers = [tf.keras.layers.Dense(h, activation="gelu") for h in hidden]
    return tf.keras.Sequential(layers + [tf.keras.layers.Dense(out_dim)], name=name)


def vocabularies(data_dir: str, sizes: dict[str, int], config: ModelConfig) -> dict[str, Vocabulary]:
    """One ``Vocabulary`` layer per non-empty vocabulary of the data directory."""
    return {
        name: Vocabulary(
            paths.vocab_file(data_dir, name), config.embedding_dim, config.oov_buckets, name=f"{name}_vocab"
        )
        for name in F.VOCABULARIES
        if sizes.get(name, 0) > 0
    }


class QueryTower(tf.keras.Model):
    """User id + the latest item + mean of the recent items + profile -> unit query vector.

    The latest item gets its own slot because what comes next depends most on it.
    """

    def __init__(self, vocabs: dict[str, Vocabulary], config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.users = vocabs.get(F.USER_VOCAB)
        self.items = vocabs[F.ITEM_VOCAB]
        self.attributes = vocabs.get(F.ATTRIBUTE_VOCAB)
        self.mlp = _mlp(config.hidden_dims, config.embedding_dim, "query_mlp")

    def call(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        history, mask = self.items(inputs[F.HISTORY_ITEM_IDS])
        parts = [history[:, 0] * tf.cast(mask[:, :1], history.dtype), masked_mean(history, mask)]
        if self.users is not None:
            parts.append(self.users(inputs[F.USER_ID])[0])
        if self.attributes is not None:
            parts.append(masked_mean(*self.attributes(inputs[F.USER_ATTRIBUTES])))
        return tf.math.l2_normalize(self.mlp(tf.concat(parts, axis=-1)), axis=-1)


class CandidateTower(tf.keras.Model):
    """Item id + content (categories, tags, title words) -> unit item vector."""

    CONTENT = (
        (F.ITEM_CATEGORIES, F.CATEGORY_VOCAB),
        (F.ITEM_TAGS, F.TAG_VOCAB),
        (F.ITEM_TITLE_TOKENS, F.TOKEN_VOCAB),
    )

    def __init__(self, vocabs: dict[str, Vocabulary], config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.items = vocabs[F.ITEM_VOCAB]
        self.content = {feature: vocabs[name] for feature, name in self.CONTENT if name in vocabs}
        self.mlp = _mlp(config.hidden_dims, config.embedding_dim, "candidate_mlp")

    def call(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        parts = [self.items(inputs[F.ITEM_ID])[0]]
        for feature, vocab in self.content.items():
            parts.append(masked_mean(*vocab(inputs[feature])))
        return tf.math.l2_normalize(self.mlp(tf.concat(parts, axis=-1)), axis=-1)
