"""Top-K at serving: the whole catalogue (brute force) or its best partitions, in core TF ops.

Brute force scores every item with ``trainer/scoring.Scorer`` (a ``[B, N]`` matrix), masks what a
request may not get (``trainer/filters.Rules``) and takes the top K: exact, and what evaluation
ranks by. Its cost grows with the catalogue (37 ms per user at 1,000,000 items on 2 cores).

Partitioned retrieval (``trainer/partitions.py`` made the partitions at export) scores the query
against the partition centroids, takes the items of the best ``probes`` partitions and scores those
**exactly**, with every term of the scorer. Two kinds of items are scored wherever they lie, because
the towers' geometry says nothing about them: the items the history's graph edges reach (their
evidence can lift them far above their towers' score) and the cold items (their text term), plus the
items a request names with ``include_item_ids``. So the answer equals brute force's whenever the true
top K lies among the probed, evidence, cold and named items; only an item whose towers' score alone
would carry it into the top K from an unprobed partition can be missed. Exclusions, filters and the
block list are then applied exactly. When a row comes back with fewer than K items (a filter few
probed items pass, a user who knows most of what was probed), the whole request is answered by brute
force instead, so a request gets K items whenever K qualify. Users the export does not know get the
TRAIN-popularity order, read from a precomputed ranking instead of a ``[B, N]`` scan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from msrec.config import ServingConfig
from trainer import partitions
from trainer.catalog import decode
from trainer.filters import Rules, lookup
from trainer.partitions import Partitions
from trainer.scoring import Scorer

Ragged = tf.RaggedTensor


@dataclasses.dataclass(frozen=True)
class Plan:
    """How an export retrieves: its partitions (None: brute force), probes and block list.

    Attributes:
      partitions: the catalogue's partitions (``trainer/partitions.py``), or None for brute force.
      probes: partitions scored exactly per row.
      blocked: ``[N]`` bool, items no signature returns (the export's block list), or None.
    """

    partitions: Partitions | None = None
    probes: int = 0
    blocked: np.ndarray | None = None


def plan_of(scorer: Scorer, trained: int, serving: ServingConfig, blocked: Sequence[str] = ()) -> Plan:
    """The plan an export's settings give its catalogue (``partitions.plan``); items past the first
    ``trained`` (added at export) join their nearest partition. ``blocked``: item ids to hide."""
    count, probes = partitions.plan(scorer.size, serving)
    parts = None
    if count:
        parts = partitions.partition(scorer.vectors.numpy(), count, fitted_on=trained)
    hidden = set(blocked)
    mask = np.array([item in hidden for item in decode(scorer.item_ids.numpy())], bool)
    return Plan(parts, probes, mask if mask.any() else None)


class Retriever(tf.Module):
    """The top ``k`` catalogue positions per row, by brute force or by partitions.

    Args:
      scorer: the catalogue's scorer.
      k: items per answer (at most the catalogue).
      popularity: ``[N]`` TRAIN shares, the scores of users the export does not know.
      plan: partitions, probes and block list.
    """

    def __init__(self, scorer: Scorer, k: int, popularity: np.ndarray, plan: Plan = Plan()):  # noqa: B008
        super().__init__()
        parts, blocked = plan.partitions, plan.blocked
        self.scorer, self.size, self.k = scorer, scorer.size, min(k, scorer.size)
        self.popularity = tf.constant(np.asarray(popularity, np.float32))
        blocked = np.zeros(self.size, bool) if blocked is None else np.asarray(blocked, bool)
        self.blocked = tf.constant(blocked) if blocked.any() else None
        order = np.argsort(-np.asarray(popularity), kind="stable")
        self.popular = tf.constant(order[~blocked[order]].astype(np.int64))  # ranking without blocked
        self.partitioned = parts is not None
        if self.partitioned:
            self.centroids = tf.constant(parts.centroids)
            self.splits = tf.constant(parts.splits)
            self.members = tf.constant(parts.members)
            self.labels = tf.constant(parts.labels.astype(np.int64))
            self.partition_count, self.probes = parts.count, min(max(plan.probes, 1), parts.count)
            self.largest = parts.largest

    def describe(self) -> dict[str, Any]:
        """What the model card records of how this export retrieves."""
        out = {"mode": "partitioned" if self.partitioned else "brute force", "items": self.size}
        if self.partitioned:
            out.update(partitions=self.partition_count, probes=self.probes, largest_partition=self.largest)
        out["blocked_items"] = 0 if self.blocked is None else int(np.sum(self.blocked.numpy()))
        out["embeddings"] = self.scorer.stored.storage
        out["item_vector_bytes"] = self.scorer.stored.nbytes
        return out

    def rules(self, **kwargs) -> Rules:
        """``filters.Rules`` over this catalogue with the export's block list."""
        return Rules(self.size, blocked=self.blocked, **kwargs)

    def top_k(
        self, queries: tf.Tensor, history: tf.Tensor, known: tf.Tensor | None, rules: Rules
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(scores [B, k], positions [B, k])``; a slot no item qualifies for: ``-inf`` and ``-1``.

        Args:
          queries: ``[B, D]`` query vectors; ``history``: ``[B, L]`` item ids (graph evidence, cold term).
          known: ``[B]`` bool, False where the row gets popularity instead; None: every row is known.
        """
        if not self.partitioned:
            return self.exact(queries, history, known, rules)
        scores, positions = self.probed(queries, history, known, rules)
        found = tf.reduce_sum(tf.cast(tf.math.is_finite(scores), tf.int32), axis=1)
        return tf.cond(
            tf.reduce_any(found < self.k),
            lambda: self.exact(queries, history, known, rules),
            lambda: (scores, positions),
        )

    def exact(
        self, queries: tf.Tensor, history: tf.Tensor, known: tf.Tensor | None, rules: Rules
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Brute force: every item scored, masked, the top k."""
        scores = self.scorer(queries, history)
        if known is not None:
            scores = tf.where(known[:, tf.newaxis], scores, self.popularity[tf.newaxis, :])
        best = tf.math.top_k(rules.dense(scores), k=self.k)
        return best.values, tf.where(
            tf.math.is_inf(best.values), tf.constant(-1, tf.int64), tf.cast(best.indices, tf.int64)
        )

    def probed(
        self, queries: tf.Tensor, history: tf.Tensor, known: tf.Tensor | None, rules: Rules
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Partitioned: the probed partitions' items plus evidence, cold and named items, exactly."""
        positions, extra = self.candidates(queries, history, rules)
        scores = self.scorer.towers_at(queries, tf.maximum(positions, 0)) + extra
        if known is not None:  # unknown rows: popularity, from its precomputed ranking
            head, popularity = self.popular_head(known, rules)
            positions = tf.concat([positions, head], axis=1)
            scores = tf.concat([tf.where(known[:, tf.newaxis], scores, -np.inf), popularity], axis=1)
        batch = tf.shape(positions, tf.int64)[0]
        positions = tf.concat([positions, tf.fill(tf.stack([batch, self.k]), tf.constant(-1, tf.int64))], 1)
        scores = tf.concat([scores, tf.fill(tf.stack([batch, self.k]), -np.inf)], axis=1)
        rows = tf.broadcast_to(tf.range(batch)[:, tf.newaxis], tf.shape(positions, tf.int64))
        flat = lambda t: tf.reshape(t, [-1])  # noqa: E731
        masked = rules.flat(flat(rows), flat(tf.maximum(positions, 0)), flat(scores))
        masked = tf.where(positions < 0, -np.inf, tf.reshape(masked, tf.shape(scores)))
        best = tf.math.top_k(masked, k=self.k)
        chosen = tf.gather(positions, best.indices, batch_dims=1)
        return best.values, tf.where(tf.math.is_inf(best.values), tf.constant(-1, tf.int64), chosen)

    def candidates(self, queries: tf.Tensor, history: tf.Tensor, rules: Rules) -> tuple[tf.Tensor, tf.Tensor]:
        """Per row, the positions to score ``[B, M]`` (``-1``: padding) and their score terms besides
        the towers' ``[B, M]``: the probed partitions' items, then the extra items outside them."""
        batch = tf.shape(queries, tf.int64)[0]
        probed, chosen = self.probe(queries)  # [B, M'] positions, -1 padding
        extras = self.extras(history, batch, rules)
        if extras is None:  # towers only, nothing named: the probed items are all (fewer ops per request)
            return probed, tf.zeros(tf.shape(probed), tf.float32)
        keys, values = extras
        chosen = self.probed_partitions(chosen, batch)
        rows = tf.range(batch)[:, tf.newaxis]
        at_probed = lookup(keys, values, tf.where(probed >= 0, rows * self.size + probed, -1))
        rows, positions = keys // self.size, keys % self.size
        # An extra item in a probed partition is already there (with its terms): keep the others.
        outside = ~tf.gather_nd(chosen, tf.stack([rows, tf.gather(self.labels, positions)], axis=1))
        rows = tf.boolean_mask(rows, outside)
        elsewhere = lambda t, pad: Ragged.from_value_rowids(  # noqa: E731
            tf.boolean_mask(t, outside), rows, batch, validate=False
        ).to_tensor(pad)
        positions = tf.concat([probed, elsewhere(positions, tf.constant(-1, tf.int64))], axis=1)
        return positions, tf.concat([at_probed, elsewhere(values, 0.0)], axis=1)

    def probe(self, queries: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The items of each row's best partitions ``[B, M]`` (-1: padding), and those partitions
        ``[B * probes]``, row by row."""
        chosen = tf.math.top_k(tf.matmul(queries, self.centroids, transpose_b=True), k=self.probes).indices
        flat = tf.cast(tf.reshape(chosen, [-1]), tf.int64)
        spans = tf.ragged.range(tf.gather(self.splits, flat), tf.gather(self.splits, flat + 1))
        batch = tf.shape(queries, tf.int64)[0]
        rows = spans.value_rowids() // self.probes
        members = tf.gather(self.members, spans.flat_values)
        items = Ragged.from_value_rowids(members, rows, batch, validate=False).to_tensor(
            tf.constant(-1, tf.int64)
        )
        return items, flat

    def probed_partitions(self, flat: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """``[B, partitions]`` bool: which partitions each row probed (``flat`` from ``probe``)."""
        owner = tf.repeat(tf.range(batch), self.probes)
        hit = tf.scatter_nd(
            tf.stack([owner, flat], axis=1), tf.ones_like(flat, tf.int32), [batch, self.partition_count]
        )
        return hit > 0

    def extras(
        self, history: tf.Tensor, batch: tf.Tensor, rules: Rules
    ) -> tuple[tf.Tensor, tf.Tensor] | None:
        """The items scored wherever they lie, as sorted unique keys ``row * N + position``, with the
        score terms the towers do not give: graph evidence, the cold text term (0 for named items).
        None when the export has neither graph nor cold items and the request names no items."""
        scorer, keys, values = self.scorer, [], []
        if scorer.graph_weight > 0:
            owner, targets, weights = scorer.edges(history)
            keys.append(owner * self.size + targets)
            values.append(scorer.graph_weight * weights)
        if scorer.cold is not None:
            cold = scorer.cold_scores(history)  # [B, cold]
            rows = tf.range(batch)[:, tf.newaxis] * self.size
            keys.append(tf.reshape(rows + scorer.cold.columns[tf.newaxis, :, 0], [-1]))
            values.append(tf.reshape(cold, [-1]))
        named = rules.include_pairs()
        if named is not None:
            keys.append(named[:, 0] * self.size + named[:, 1])
            values.append(tf.zeros(tf.shape(named)[:1], tf.float32))
        if not keys:
            return None
        unique, index = tf.unique(tf.concat(keys, axis=0))
        summed = tf.math.unsorted_segment_sum(tf.concat(values, axis=0), index, tf.shape(unique)[0])
        order = tf.argsort(unique)
        return tf.gather(unique, order), tf.gather(summed, order)

    def popular_head(self, known: tf.Tensor, rules: Rules) -> tuple[tf.Tensor, tf.Tensor]:
        """``[B, H]`` positions and scores of the most popular items, as many as K plus the request's
        exclusions (more only matter under filters, where a short row falls back); known rows: -inf."""
        length = tf.minimum(tf.size(self.popular, tf.int32), self.k + rules.excluded_count)
        head = self.popular[:length]
        shape = tf.stack([tf.size(known), length])
        scores = tf.where(known[:, tf.newaxis], -np.inf, tf.gather(self.popularity, head)[tf.newaxis, :])
        return tf.broadcast_to(head[tf.newaxis, :], shape), tf.broadcast_to(scores, shape)
