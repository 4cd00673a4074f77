"""How a user scores every catalog item: one definition for evaluation and for serving.

``score(user, item) = <query, candidate> / temperature + graph_weight * evidence``,
where ``evidence`` sums the weights of the item scoring graph that link the items of
the user's history to the item (EASE^R item-item weights that preprocessing wrote,
``preprocessing/graphs.py``). The first term is the two-tower retrieval score; the
second adds exact item-item evidence that a 64-dimensional dot product cannot hold
for a long-tailed catalog (``docs/tuning.md``). With ``graph_weight`` 0 the ranking
is the towers' alone.

Only core TF ops (hash table, unique, ragged range, gather, scatter, matmul), so the
exported model still loads in stock TF Serving.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from trainer import catalog, data


class Scorer(tf.Module):
    """``(query embeddings [B, D], history item ids [B, L]) -> scores [B, N]`` over a fixed catalog.

    ``graph`` maps an item to its ``(source, weight)`` pairs: a history holding ``source``
    adds ``weight`` to the item's evidence. Items and sources outside the catalog are ignored.
    """

    def __init__(
        self,
        item_ids: list[str],
        item_vectors: np.ndarray,
        graph: Mapping[str, Sequence[tuple[str, float]]],
        temperature: float,
        graph_weight: float,
    ):
        super().__init__()
        self.size = len(item_ids)
        self.item_ids = tf.constant(np.array(item_ids, dtype=object))
        self.vectors = tf.constant(item_vectors, tf.float32)
        self.temperature, self.graph_weight = float(temperature), float(graph_weight)
        self.reads_history = graph_weight > 0
        # By source: the items whose sources include item i are targets[splits[i]:splits[i + 1]].
        if self.reads_history:
            self.splits, self.targets, self.weights = (tf.constant(a) for a in _by_source(item_ids, graph))
        self.position = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self.item_ids, tf.range(self.size, dtype=tf.int64), tf.string, tf.int64
            ),
            -1,
        )

    def __call__(self, queries: tf.Tensor, history: tf.Tensor) -> tf.Tensor:
        scores = tf.matmul(queries, self.vectors, transpose_b=True) / self.temperature
        if not self.reads_history:
            return scores
        return scores + self.graph_weight * self.evidence(history)

    def evidence(self, history: tf.Tensor) -> tf.Tensor:
        """``[B, N]``: per catalog item, the summed weights of its sources in each history.

        Reads only the edges of the history's items (``O(B * L * degree)``), not the whole graph.
        """
        history = tf.convert_to_tensor(history, tf.string)
        index = self.position.lookup(history)  # padding and items outside the catalog are -1
        known = tf.where(index >= 0)
        # A set: an item given twice (stored and again as a recent event) counts once.
        pairs, _ = tf.unique(known[:, 0] * self.size + tf.gather_nd(index, known))
        users, items = pairs // self.size, pairs % self.size
        starts = tf.gather(self.splits, items)
        edges = tf.ragged.range(starts, tf.gather(self.splits, items + 1))
        owner = tf.gather(users, edges.value_rowids())
        targets = tf.gather(self.targets, edges.flat_values)
        shape = [tf.shape(history, tf.int64)[0], self.size]
        return tf.scatter_nd(
            tf.stack([owner, targets], axis=1), tf.gather(self.weights, edges.flat_values), shape
        )


def for_model(
    model: tf.keras.Model, data_dir: str, extra: tuple[list[str], np.ndarray] | None = None
) -> tuple[list[str], Scorer]:
    """The catalog's item ids and the scorer of a trained ``TwoTowerModel``.

    Args:
      extra: items to append to the catalog (ids and candidate vectors): new items added at export.
    """
    item_ids, candidates = model.tables.catalog_ids, model.tables.catalog
    vectors = catalog.embed(model.candidate_tower, candidates)
    if extra is not None:
        known = set(item_ids)
        keep = [i for i, item in enumerate(extra[0]) if item not in known]
        item_ids = item_ids + [extra[0][i] for i in keep]
        vectors = np.concatenate([vectors, extra[1][keep]])
    weight = model.graph_score_weight
    graph = data.scoring_graph(data_dir) if weight > 0 else {}
    return item_ids, Scorer(item_ids, vectors, graph, model.temperature, weight)


def _by_source(
    item_ids: list[str], graph: Mapping[str, Sequence[tuple[str, float]]]
) -> tuple[np.ndarray, ...]:
    """The graph in compressed rows keyed by source: ``(splits, items, weights)``."""
    position = {item: i for i, item in enumerate(item_ids)}
    edges = []  # (source, item, weight)
    for item, sources in graph.items():
        target = position.get(item)
        for source, weight in sources if target is not None else ():
            column = position.get(source)
            if column is not None:
                edges.append((column, target, weight))
    edges.sort()
    sources = np.array([e[0] for e in edges], np.int64)
    splits = np.searchsorted(sources, np.arange(len(item_ids) + 1)).astype(np.int64)
    return splits, np.array([e[1] for e in edges], np.int64), np.array([e[2] for e in edges], np.float32)
