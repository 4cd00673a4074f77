"""The retrieval model: wires the two towers to a TFRS retrieval task.

Like TFRS's own models it holds no logic of its own beyond ``compute_loss``:
the towers encode, the task owns the in-batch softmax loss.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from msrec import features as F
from msrec.config import ModelConfig
from trainer import towers
from trainer.tables import Tables


def sampling_probability(item_counts: Mapping[str, int]) -> tf.lookup.StaticHashTable:
    """Item id -> share of TRAIN interactions: the chance it lands in a batch.

    Items outside the vocabulary get the smallest share, as the rarest items do.
    """
    ids, counts = list(item_counts), [float(c) for c in item_counts.values()]
    total = sum(counts)
    shares = tf.constant([c / total for c in counts], tf.float32)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(ids), shares), min(counts) / total
    )


class CatalogSample(tf.Module):
    """The candidate features of every catalog item, to draw uniform negatives from."""

    def __init__(self, values: Mapping[str, np.ndarray]):
        super().__init__()
        self.columns = {name: tf.constant(column) for name, column in values.items()}
        self.size = len(values[F.ITEM_ID])

    def draw(self, n: int) -> dict[str, tf.Tensor]:
        rows = tf.random.uniform([n], maxval=self.size, dtype=tf.int32)
        return {name: tf.gather(column, rows) for name, column in self.columns.items()}

    def share(self, n: int) -> float:
        """The chance that a given item is among ``n`` uniform draws, for logQ."""
        return min(n / self.size, 1.0)


class TwoTowerModel(tfrs.Model):
    """Query and candidate towers trained with in-batch softmax retrieval."""

    def __init__(self, tables: Tables, config: ModelConfig):
        super().__init__()
        self.tables = tables  # plain data: the scorer and the export read the catalog from it
        vocabs = towers.vocabularies(tables.vocabularies, config)
        self.query_tower = towers.QueryTower(vocabs, config, tables.history_length, name="query_tower")
        text = None
        if "text" in config.sources and tables.text_vectors is not None:
            text = towers.ItemText(
                tables.text_ids, tables.text_vectors, config.embedding_dim, name="item_text"
            )
        self.candidate_tower = towers.CandidateTower(vocabs, config, text, name="candidate_tower")
        self.task = tfrs.tasks.Retrieval(
            temperature=config.temperature,
            remove_accidental_hits=True,
            num_hard_negatives=config.num_hard_negatives or None,
        )
        self.sampling = sampling_probability(tables.item_counts) if config.logq_correction else None
        self.catalog = CatalogSample(tables.catalog) if config.uniform_negatives > 0 else None
        self.uniform_negatives = config.uniform_negatives
        self.evidence_in_loss = 0.0
        if config.evidence_in_loss > 0 and tables.scoring_graph is not None:
            from trainer.scoring import Scorer  # only its evidence: the towers' vectors are not used

            self.evidence_in_loss = config.evidence_in_loss
            dummy = np.zeros((len(tables.catalog_ids), 1), np.float32)
            self.evidence = Scorer(tables.catalog_ids, dummy, tables.scoring_graph, 1.0, 1.0)
        self.ranking_weight = config.ranking_weight
        self.temperature = config.temperature
        if self.ranking_weight > 0:
            self.rater = tf.keras.Sequential(
                [tf.keras.layers.Dense(config.embedding_dim, activation="gelu"), tf.keras.layers.Dense(1)],
                name="rater",
            )
            self.ranking = tfrs.tasks.Ranking(loss=tf.keras.losses.MeanSquaredError())

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        return self.query_tower(inputs, training=training), self.candidate_tower(inputs, training=training)

    def with_evidence(
        self, history: tf.Tensor, ids: tf.Tensor, queries: tf.Tensor, candidates: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Embeddings whose dot products are the towers' plus ``temperature * w * evidence``.

        The retrieval task divides dot products by the temperature, so appending to each query
        its row of ``temperature * w * E`` (``E[b, j]``: the evidence of query b's history for
        in-batch candidate j) and to candidate j the j-th unit vector adds exactly ``w * E[b, j]``
        to every logit, while logQ, accidental-hit removal and hard negatives stay the task's.
        """
        by_item = self.evidence.evidence(history)  # [B, catalog]
        columns = self.evidence.position.lookup(ids)  # [B'], -1 outside the catalog
        evidence = tf.gather(by_item, tf.maximum(columns, 0), axis=1)
        evidence *= tf.cast(columns >= 0, evidence.dtype)[tf.newaxis, :]
        scale = self.temperature * self.evidence_in_loss
        queries = tf.concat([queries, scale * evidence], axis=1)
        candidates = tf.concat([candidates, tf.eye(tf.shape(candidates)[0], dtype=candidates.dtype)], axis=1)
        return queries, candidates

    def compute_loss(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        queries, candidates = self(inputs, training=training)
        # In-batch negatives over-represent popular items; the task subtracts log p (logQ)
        # so the softmax estimates the full-catalog one. Same-item rows are not negatives.
        ids = inputs[F.ITEM_ID]
        probability = self.sampling.lookup(ids) if self.sampling is not None else None
        if self.catalog is not None:  # mixed negatives: append uniformly drawn catalog items
            extra = self.catalog.draw(self.uniform_negatives)
            candidates = tf.concat([candidates, self.candidate_tower(extra, training=training)], axis=0)
            ids = tf.concat([ids, extra[F.ITEM_ID]], axis=0)
            if probability is not None:
                uniform = tf.fill([self.uniform_negatives], self.catalog.share(self.uniform_negatives))
                probability = tf.concat([probability, uniform], axis=0)
        scored = (queries, candidates)
        if self.evidence_in_loss > 0:
            scored = self.with_evidence(inputs[F.HISTORY_ITEM_IDS], ids, queries, candidates)
        loss = self.task(
            *scored,
            candidate_ids=ids,
            candidate_sampling_probability=probability,
            compute_metrics=False,
            compute_batch_metrics=False,
        )
        if self.ranking_weight > 0:  # multi-task: how strongly, not only whether
            predicted = self.rater(tf.concat([queries, candidates[: tf.shape(queries)[0]]], axis=-1))
            target = tf.math.log1p(tf.maximum(inputs[F.EVENT_WEIGHT], 0.0))[:, tf.newaxis]
            loss += self.ranking_weight * self.ranking(target, predicted, compute_metrics=False)
        return loss
