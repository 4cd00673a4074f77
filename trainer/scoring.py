"""How a user scores every catalog item: one definition for evaluation and for serving.

``score(user, item) = <query, candidate> / temperature + graph_weight * evidence
+ [item is cold] * (cold_weight * text_z + cold_offset)``,
where ``evidence`` sums the weights of the item scoring graph that link the items of
the user's history to the item (EASE^R item-item weights that preprocessing wrote,
``preprocessing/scoring_graph.py``). The first term is the two-tower retrieval score; the
second adds exact item-item evidence that a 64-dimensional dot product cannot hold
for a long-tailed catalog (``docs/tuning.md``). With ``graph_weight`` 0 the ranking
is the towers' alone.

The third term is for **cold** items: nobody interacted with them in the data the model
was trained on (or they were added at export, ``--new-items``), so neither the towers'
id embeddings nor the evidence know them. ``text_z`` is how many standard deviations the
cosine between the item's sentence vector and the mean sentence vector of the user's
history lies above the user's typical item (mean and spread over a fixed sample of the
catalog): the pretrained encoder's judgement, on a scale that is the same for every user.
``cold_offset`` (negative) keeps a cold item out of the list unless its text stands out.
Both weights are chosen on VALIDATION (``trainer/mix.py``).

Only core TF ops (hash table, unique, ragged range, gather, scatter, matmul), so the
exported model still loads in stock TF Serving.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec.config import ModelConfig
from trainer import catalog, quantize
from trainer.tables import Tables


@dataclasses.dataclass(frozen=True)
class Ranking:
    """The score's mix: what a trained model ranks with, in evaluation and in every export.

    Attributes:
      temperature: the towers' dot product is divided by it (the training softmax's).
      graph_weight: ``w``, the item scoring graph's evidence weight (0: the towers alone).
      cold_weight, cold_offset: the cold items' text term (weight 0: off).
      cold_words: whether that term also compares the items' content words.
    """

    temperature: float
    graph_weight: float = 0.0
    cold_weight: float = 0.0
    cold_offset: float = 0.0
    cold_words: bool = True

    @classmethod
    def of(cls, model: ModelConfig) -> Ranking:
        """The mix a resolved model config sets; a source that is off contributes no term."""
        if tuple(model.sources) == ("auto",):
            raise ValueError("Ranking.of needs the model config resolved against its data (DataDir.resolve)")
        on = set(model.sources)
        return cls(
            temperature=model.temperature,
            graph_weight=model.graph_score_weight if "item_graph" in on else 0.0,
            cold_weight=model.cold_text_weight if "text" in on else 0.0,
            cold_offset=model.cold_text_offset,
            cold_words=model.cold_text_words,
        )

    @property
    def reads_graph(self) -> bool:
        return self.graph_weight > 0


class Scorer(tf.Module):
    """``(query embeddings [B, D], history item ids [B, L]) -> scores [B, N]`` over a fixed catalog.

    ``graph`` maps an item to its ``(source, weight)`` pairs: a history holding ``source``
    adds ``weight`` to the item's evidence. Items and sources outside the catalog are ignored.
    ``cold`` (optional): ``ColdText`` of the catalog, the cold items' text term.
    ``storage``: how the item vectors are kept (``trainer/quantize.py``: float32, float16, int8).
    """

    def __init__(
        self,
        item_ids: list[str],
        item_vectors: np.ndarray,
        graph: Mapping[str, Sequence[tuple[str, float]]],
        temperature: float,
        graph_weight: float,
        cold: ColdText | None = None,
        storage: str = quantize.FLOAT32,
    ):
        super().__init__()
        self.size = len(item_ids)
        self.item_ids = tf.constant(np.array(item_ids, dtype=object))
        self.stored = quantize.ItemVectors(
            np.asarray(item_vectors, np.float32).reshape(self.size, -1), storage
        )
        self.temperature, self.graph_weight = float(temperature), float(graph_weight)
        self.cold = cold if cold is not None and cold.active else None
        self.reads_history = graph_weight > 0 or self.cold is not None
        # By source: the items whose sources include item i are targets[splits[i]:splits[i + 1]].
        if graph_weight > 0:
            self.splits, self.targets, self.weights = (tf.constant(a) for a in _by_source(item_ids, graph))
        self.position = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self.item_ids, tf.range(self.size, dtype=tf.int64), tf.string, tf.int64
            ),
            -1,
        )

    @property
    def vectors(self) -> tf.Tensor:
        """``[N, D]`` float32 candidate vectors (dequantised when stored smaller)."""
        return self.stored.dense()

    def __call__(self, queries: tf.Tensor, history: tf.Tensor) -> tf.Tensor:
        scores = self.stored.scores(queries) / self.temperature
        if self.graph_weight > 0:
            scores += self.graph_weight * self.evidence(history)
        if self.cold is not None:
            scores = self.cold.add(scores, self.cold_scores(history))
        return scores

    def towers_at(self, queries: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
        """``[B, M]``: the towers' term of each row's query ``[B, D]`` and its items at ``positions``."""
        return tf.linalg.matvec(self.stored.gather(positions), queries) / self.temperature

    def cold_scores(self, history: tf.Tensor) -> tf.Tensor:
        """``[B, cold items]``: the cold items' text term (only with ``cold``)."""
        z = self.cold.z(self.position.lookup(tf.convert_to_tensor(history, tf.string)))
        return self.cold.weight * z + self.cold.offset

    def edges(self, history: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The graph edges the histories reach: ``(row, target position, weight)``, each ``[E]``.

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
        return owner, tf.gather(self.targets, edges.flat_values), tf.gather(self.weights, edges.flat_values)

    def evidence(self, history: tf.Tensor) -> tf.Tensor:
        """``[B, N]``: per catalog item, the summed weights of its sources in each history."""
        owner, targets, weights = self.edges(history)
        shape = [tf.shape(history, tf.int64)[0], self.size]
        return tf.scatter_nd(tf.stack([owner, targets], axis=1), weights, shape)


def lexical(features: Mapping[str, np.ndarray], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """TF-IDF rows of the items' content words: ``(token [N, T], weight [N, T], vocabulary size)``.

    The words are the candidate features ``names`` (categories, tags, title words; ``[N, L]``
    strings, empty for padding), counted once per item and field; smoothed idf (scikit-learn's
    ``log((1 + N) / (1 + df)) + 1``); each row has unit length. Padding slots are token 0, weight 0.
    """

    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    size = len(features[names[0]]) if names else 0
    # sorted: the same vocabulary order in every process
    rows = [
        sorted({f"{name}:{text(v)}" for name in names for v in features[name][i] if v}) for i in range(size)
    ]
    vocabulary: dict[str, int] = {}
    for row in rows:
        for word in row:
            vocabulary.setdefault(word, len(vocabulary))
    frequency = np.zeros(len(vocabulary))
    for row in rows:
        frequency[[vocabulary[w] for w in row]] += 1
    idf = np.log((1 + len(rows)) / (1 + frequency)) + 1
    width = max([len(row) for row in rows] + [1])
    token = np.zeros((len(rows), width), np.int64)
    weight = np.zeros((len(rows), width), np.float32)
    for i, row in enumerate(rows):
        ids = [vocabulary[w] for w in row]
        token[i, : len(ids)] = ids
        weight[i, : len(ids)] = idf[ids] / max(np.linalg.norm(idf[ids]), 1e-12)
    return token, weight, max(len(vocabulary), 1)


class ColdText(tf.Module):
    """The cold items' text term: ``z`` per (user, cold item), added at the cold items' columns.

    Two views of an item's text, each compared with the user's history and standardised over a
    fixed sample of the catalog, then summed and standardised again: the sentence encoder's
    vectors (what the words mean) and TF-IDF rows of its content words (which words it shares
    with the history: an unseen band tagged like the user's own bands).

    Args:
      text_vectors: ``[N, D]`` unit sentence vectors of the catalog (zeros: no text).
      cold: ``[N]`` bool, the items nobody interacted with in the data the model learned from.
      weight, offset: ``cold_weight`` and ``cold_offset`` of the score.
      words: ``lexical()`` of the catalog, or None for the sentence vectors alone.
      reference_items: how many catalog items (evenly spaced) estimate a user's typical cosine.
    """

    def __init__(
        self,
        text_vectors: np.ndarray,
        cold: np.ndarray,
        weight: float,
        offset: float,
        words: tuple[np.ndarray, np.ndarray, int] | None = None,
        reference_items: int = 2048,
    ):
        super().__init__()
        size = len(text_vectors)
        self.positions = np.flatnonzero(cold).astype(np.int64)
        self.active = weight != 0 and len(self.positions) > 0 and bool(np.any(text_vectors))
        self.weight, self.offset = float(weight), float(offset)
        if not self.active:
            return
        sample = np.unique(np.linspace(0, size - 1, min(size, reference_items)).astype(np.int64))
        self.text = tf.constant(text_vectors, tf.float32)
        self.words = None
        if words is not None:
            token, value, vocabulary = words
            self.words = (tf.constant(token), tf.constant(value), vocabulary)
            self.cold_words = _sparse(token[self.positions], value[self.positions], vocabulary)
            self.reference_words = _sparse(token[sample], value[sample], vocabulary)
        self.cold_text = tf.constant(text_vectors[self.positions], tf.float32)
        self.reference = tf.constant(text_vectors[sample], tf.float32)
        self.columns = tf.constant(self.positions[:, None])

    def z(self, history_positions: tf.Tensor) -> tf.Tensor:
        """``[B, cold items]``: how far each cold item's text stands above the user's typical item.

        ``history_positions``: ``[B, L]`` catalog positions, -1 for padding and unknown items.
        """
        present = history_positions >= 0
        rows = tf.maximum(history_positions, 0)
        mask = tf.cast(present, tf.float32)[:, :, tf.newaxis]
        profile = tf.math.l2_normalize(tf.reduce_sum(tf.gather(self.text, rows) * mask, axis=1), axis=-1)
        cold, reference = _standardised(
            tf.matmul(profile, self.cold_text, transpose_b=True),
            tf.matmul(profile, self.reference, transpose_b=True),
        )
        if self.words is None:
            return cold
        token, value, vocabulary = self.words
        batch = tf.shape(history_positions, tf.int64)[0]
        owner = tf.broadcast_to(
            tf.range(batch)[:, tf.newaxis, tf.newaxis], tf.shape(tf.gather(token, rows), tf.int64)
        )
        bag = tf.scatter_nd(
            tf.stack([tf.reshape(owner, [-1]), tf.reshape(tf.gather(token, rows), [-1])], axis=1),
            tf.reshape(tf.gather(value, rows) * mask, [-1]),
            tf.stack([batch, tf.constant(vocabulary, tf.int64)]),
        )
        bag = tf.transpose(tf.math.l2_normalize(bag, axis=-1))  # [V, B]
        cold_words, reference_words = _standardised(
            tf.transpose(tf.sparse.sparse_dense_matmul(self.cold_words, bag)),
            tf.transpose(tf.sparse.sparse_dense_matmul(self.reference_words, bag)),
        )
        return _standardised(cold + cold_words, reference + reference_words)[0]

    def add(self, scores: tf.Tensor, cold_scores: tf.Tensor) -> tf.Tensor:
        """``scores [B, N]`` with ``cold_scores [B, cold items]`` added at the cold items' columns."""
        by_item = tf.tensor_scatter_nd_add(tf.transpose(scores), self.columns, tf.transpose(cold_scores))
        return tf.transpose(by_item)


def _standardised(values: tf.Tensor, reference: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``values`` and ``reference`` ``[B, *]`` in standard deviations from each row's reference mean."""
    mean, variance = tf.nn.moments(reference, [1], keepdims=True)
    scale = tf.sqrt(variance) + 1e-6
    return (values - mean) / scale, (reference - mean) / scale


def _sparse(token: np.ndarray, value: np.ndarray, vocabulary: int) -> tf.SparseTensor:
    """``[rows, vocabulary]`` from padded ``(token, value)`` rows (zero weights dropped)."""
    rows, slots = np.nonzero(value)
    indices = np.stack([rows, token[rows, slots]], axis=1).astype(np.int64)
    order = np.lexsort((indices[:, 1], indices[:, 0]))
    return tf.SparseTensor(indices[order], value[rows, slots][order], [len(token), vocabulary])


def cold_text(
    model: tf.keras.Model,
    item_ids: list[str],
    weight: float,
    offset: float,
    words: bool = True,
    extra: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> ColdText | None:
    """The ``ColdText`` of a model's catalog, or None when the model reads no item text.

    Cold: none of the interactions the model learned from has it (``Tables.trained_items``), and
    every item added at export (``extra``: their sentence vectors and candidate features, in order
    after the catalog). ``words``: also compare content words (``Ranking.cold_words``).
    """
    tables: Tables = model.tables
    if model.candidate_tower.text is None or tables.text_vectors is None:
        return None
    position = {item: i for i, item in enumerate(item_ids)}
    vectors = np.zeros((len(item_ids), tables.text_vectors.shape[1]), np.float32)
    for item, vector in zip(tables.text_ids, tables.text_vectors, strict=True):
        if item in position:
            vectors[position[item]] = vector
    cold = np.array([item not in tables.trained_items for item in item_ids])
    names = [n for n in (F.ITEM_CATEGORIES, F.ITEM_TAGS, F.ITEM_TITLE_TOKENS) if n in tables.catalog]
    names = names if words else []
    features = {n: tables.catalog[n] for n in names}
    if extra is not None:
        vectors[len(item_ids) - len(extra[0]) :] = extra[0]
        features = {n: np.concatenate([features[n], extra[1][n]]) for n in names}
    return ColdText(vectors, cold, weight, offset, lexical(features, names) if names else None)


def graph_of(tables: Tables, ranking: Ranking) -> Mapping[str, Sequence[tuple[str, float]]]:
    """The scoring graph a ranking reads (empty when it reads none)."""
    if not ranking.reads_graph:
        return {}
    if tables.scoring_graph is None:
        raise ValueError("the ranking reads the item scoring graph: read the tables with scoring_graph=True")
    return tables.scoring_graph


def for_model(
    model: tf.keras.Model,
    ranking: Ranking,
    extra: tuple[list[str], np.ndarray, np.ndarray | None, dict[str, np.ndarray]] | None = None,
    storage: str = quantize.FLOAT32,
) -> tuple[list[str], Scorer]:
    """The catalog's item ids and the scorer of a trained ``TwoTowerModel`` ranking by ``ranking``.

    The scoring graph and the cold items are those of the data the model learned from (its
    ``Tables``: TRAIN, or TRAIN + VALIDATION for a refit model).

    Args:
      extra: items to append to the catalog (ids, candidate vectors, sentence vectors or None,
        candidate features): new items added at export.
      storage: how the scorer keeps the item vectors (``trainer/quantize.py``).
    """
    item_ids, candidates = model.tables.catalog_ids, model.tables.catalog
    vectors = catalog.embed(model.candidate_tower, candidates)
    extra_text = None
    if extra is not None:
        known = set(item_ids)
        keep = [i for i, item in enumerate(extra[0]) if item not in known]
        item_ids = item_ids + [extra[0][i] for i in keep]
        vectors = np.concatenate([vectors, extra[1][keep]])
        if extra[2] is not None:
            extra_text = (extra[2][keep], {name: values[keep] for name, values in extra[3].items()})
    cold = cold_text(
        model, item_ids, ranking.cold_weight, ranking.cold_offset, ranking.cold_words, extra_text
    )
    graph = graph_of(model.tables, ranking)
    scorer = Scorer(item_ids, vectors, graph, ranking.temperature, ranking.graph_weight, cold, storage)
    return item_ids, scorer


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
