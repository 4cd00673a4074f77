"""A tiny real retrieval SavedModel for the modelserver tests, and helpers to publish its versions.

The model is a miniature of a recommender's export, built with plain TensorFlow (a ``tf.Module``, no
Keras, nothing of msrec): string ids in, top-k string ids and float scores out, computed with lookup
tables, a matmul, ``top_k`` and ``gather`` over a constant five-item catalog. Its ``score`` signature is
the second signature the tests need. ``direction=-1`` flips the item embeddings, which flips the
ranking, so a hot-swapped version answers visibly differently.
"""

from __future__ import annotations

import os
import socket

import tensorflow as tf

MODEL_NAME = "recommender"
CATALOG = ["item_a", "item_b", "item_c", "item_d", "item_e"]
USERS = ["alice", "bob", "carol"]
TOP_K = 2
HISTORY_LENGTH = 3


class TinyRecommender(tf.Module):
    def __init__(self, direction: float = 1.0):
        super().__init__()
        self.users = _index_table(USERS, default=len(USERS))  # unknown users share the last row
        self.items = _index_table(CATALOG, default=-1)  # padding and unknown ids are masked out
        self.user_embeddings = tf.Variable([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.5, 0.5]])
        item_embeddings = [[0.9, 0.1], [0.1, 0.9], [0.7, 0.7], [-0.5, 0.2], [0.3, -0.4]]
        self.item_embeddings = tf.Variable(tf.constant(item_embeddings) * direction)
        self.catalog = tf.constant(CATALOG)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None, HISTORY_LENGTH], tf.string, name="history"),
        ]
    )
    def recommend(self, user_id, history):
        query = self._query(user_id, history)
        scores = tf.matmul(query, self.item_embeddings, transpose_b=True)
        top = tf.math.top_k(scores, k=TOP_K)
        return {"item_ids": tf.gather(self.catalog, top.indices), "scores": top.values}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None], tf.string, name="item_id"),
        ]
    )
    def score(self, user_id, item_id):
        users = tf.gather(self.user_embeddings, self.users.lookup(user_id))
        items = tf.gather(self.item_embeddings, tf.maximum(self.items.lookup(item_id), 0))
        return {"score": tf.reduce_sum(users * items, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def recommend_examples(self, examples):
        """``recommend`` on serialized tf.Examples, like msrec's ``predict_examples``."""
        features = {
            "user_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "history": tf.io.FixedLenFeature([HISTORY_LENGTH], tf.string, [""] * HISTORY_LENGTH),
        }
        parsed = tf.io.parse_example(examples, features)
        return self.recommend(parsed["user_id"], parsed["history"])

    def _query(self, user_id, history):
        users = tf.gather(self.user_embeddings, self.users.lookup(user_id))
        index = self.items.lookup(history)
        mask = tf.cast(index >= 0, tf.float32)[..., None]
        seen = tf.gather(self.item_embeddings, tf.maximum(index, 0)) * mask
        mean = tf.reduce_sum(seen, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return users + mean


def _index_table(keys: list[str], default: int) -> tf.lookup.StaticHashTable:
    initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.range(len(keys), dtype=tf.int64))
    return tf.lookup.StaticHashTable(initializer, default_value=tf.constant(default, tf.int64))


def export_model(path: str, direction: float = 1.0, with_examples: bool = False) -> str:
    """Writes the tiny model to ``path`` with signatures ``serving_default`` and ``score`` (and
    ``predict_examples`` if ``with_examples``)."""
    module = TinyRecommender(direction)
    signatures = {
        "serving_default": module.recommend.get_concrete_function(),
        "score": module.score.get_concrete_function(),
    }
    if with_examples:
        signatures["predict_examples"] = module.recommend_examples.get_concrete_function()
    tf.saved_model.save(module, path, signatures=signatures)
    return path


def publish_version(base_path: str, version: int, direction: float = 1.0) -> str:
    """Exports to a temporary directory, then renames it into place, as a safe pusher does."""
    staging = os.path.join(base_path, f".staging-{version}")
    export_model(staging, direction)
    target = os.path.join(base_path, str(version))
    os.rename(staging, target)
    return target


def pick_unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_inputs() -> dict:
    return {
        "user_id": ["alice", "dave"],
        "history": [["item_b", "item_c", ""], ["", "", ""]],
    }


def example(user_id: str, history: list[str]) -> bytes:
    """One serialized tf.Example for ``predict_examples``."""
    feature = {
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[user_id.encode()])),
        "history": tf.train.Feature(bytes_list=tf.train.BytesList(value=[h.encode() for h in history])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def save_python_op_model(path: str) -> None:
    """A SavedModel whose signature needs a Python op (EagerPyFunc), which TF Serving lacks."""

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return {"y": tf.py_function(lambda v: v * 2, [x], tf.float32)}

    module = Module()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
