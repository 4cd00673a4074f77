"""How a user scores every catalog item: one definition for evaluation and for serving.

``score(user, item) = <query, candidate> / temperature + graph_weight * evidence``,
where ``evidence`` sums the item-graph weights that link the items of the user's
history to the item (the item's co-occurrence neighbours preprocessing wrote,
the ItemKNN score). The first term is the two-tower retrieval score; the second
adds exact item-item evidence that a 64-dimensional dot product cannot hold for
a long-tailed catalog (``docs/tuning.md``). With ``graph_weight`` 0 the ranking
is the towers' alone.

Only core TF ops (hash table, scatter, sparse-dense matmul, matmul), so the
exported model still loads in stock TF Serving.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from msrec import features as F


class Scorer(tf.Module):
    """``(query embeddings [B, D], history item ids [B, L]) -> scores [B, N]`` over a fixed catalog."""

    def __init__(
        self,
        item_ids: list[str],
        item_vectors: np.ndarray,
        candidates: dict[str, np.ndarray],
        temperature: float,
        graph_weight: float,
    ):
        super().__init__()
        self.size = len(item_ids)
        self.item_ids = tf.constant(np.array(item_ids, dtype=object))
        self.vectors = tf.constant(item_vectors, tf.float32)
        self.temperature, self.graph_weight = float(temperature), float(graph_weight)
        self.graph = _graph(item_ids, candidates) if graph_weight > 0 else None
        self.position = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self.item_ids, tf.range(self.size, dtype=tf.int64), tf.string, tf.int64
            ),
            -1,
        )

    @property
    def reads_history(self) -> bool:
        return self.graph is not None

    def __call__(self, queries: tf.Tensor, history: tf.Tensor) -> tf.Tensor:
        scores = tf.matmul(queries, self.vectors, transpose_b=True) / self.temperature
        if self.graph is None:
            return scores
        return scores + self.graph_weight * self.evidence(history)

    def evidence(self, history: tf.Tensor) -> tf.Tensor:
        """``[B, N]``: per catalog item, the summed weights of its neighbours in each history."""
        index = self.position.lookup(history)  # padding and items outside the catalog are -1
        known = tf.where(index >= 0)
        users = tf.stack([known[:, 0], tf.gather_nd(index, known)], axis=1)
        shape = [tf.shape(history, tf.int64)[0], self.size]
        # A set: an item given twice (stored and again as a recent event) counts once.
        multi_hot = tf.minimum(tf.scatter_nd(users, tf.ones([tf.shape(users)[0]]), shape), 1.0)
        # graph[j, i] = weight of neighbour i of item j, so graph @ multi_hot^T is [N, B].
        return tf.transpose(tf.sparse.sparse_dense_matmul(self.graph, multi_hot, adjoint_b=True))


def for_model(model: tf.keras.Model, data_dir: str) -> tuple[list[str], dict[str, np.ndarray], Scorer]:
    """The catalog (ids, candidate features) and the scorer of a trained ``TwoTowerModel``."""
    from trainer import data, evaluate

    item_ids, candidates = evaluate.catalog(data_dir, data.contract(data_dir))
    vectors = evaluate.embed(model.candidate_tower, candidates)
    return (
        item_ids,
        candidates,
        Scorer(item_ids, vectors, candidates, model.temperature, model.graph_score_weight),
    )


def _graph(item_ids: list[str], candidates: dict[str, np.ndarray]) -> tf.SparseTensor:
    """The catalog's item graph as a sparse ``[N, N]`` matrix: row = item, column = neighbour."""
    position = {item: i for i, item in enumerate(item_ids)}
    rows, columns, weights = [], [], []
    pairs = zip(candidates[F.ITEM_NEIGHBOR_IDS], candidates[F.ITEM_NEIGHBOR_WEIGHTS], strict=True)
    for row, (neighbours, values) in enumerate(pairs):
        for neighbour, weight in zip(neighbours, values, strict=True):
            column = position.get(neighbour.decode() if isinstance(neighbour, bytes) else str(neighbour))
            if column is not None:
                rows.append(row)
                columns.append(column)
                weights.append(weight)
    indices = np.array([rows, columns], np.int64).T.reshape(-1, 2)
    graph = tf.SparseTensor(indices, np.array(weights, np.float32), [len(item_ids)] * 2)
    return tf.sparse.reorder(graph)
