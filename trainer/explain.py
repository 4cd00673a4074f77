"""Why an item was recommended: the history items behind it, and a friend, in core TF ops.

For each returned item ``j`` and each item ``h`` of the user's history, ``recommend_user_explained``
weighs ``contribution(h, j) = graph_weight * w(h -> j) + <v_h, v_j> / temperature``: the first part
is exactly ``h``'s share of ``j``'s graph evidence in the score (``trainer/scoring.py``), the second
the score ``j`` would get from the towers if the user's query were ``h``'s own candidate vector.
The ``reasons`` history items with the largest contribution are returned per item, with their
contribution and its evidence part.

Where the model has a social part and the user has friends the export knows, each returned item
also names a friend: the first friend (in the user's friend list) who has the item, when one does;
else the friend whose own query vector (from the friend's stored features) scores the item highest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import signatures as S
from trainer.filters import NEVER, lookup
from trainer.scoring import Scorer


class Explainer(tf.Module):
    """Reasons for ``[B, K]`` returned catalogue positions.

    Args:
      scorer: the catalogue's scorer (item vectors, graph, temperature).
      users: the export's ``UserTable`` (friends' stored features and known items).
      query_tower: the model's query tower when it has a social part, else None (no friend reasons).
      reasons: history items named per returned item.
    """

    def __init__(self, scorer: Scorer, users: Any, query_tower: Any = None, reasons: int = 3):
        super().__init__()
        self.scorer, self.users, self.query_tower, self.reasons = scorer, users, query_tower, reasons

    def __call__(self, query: dict[str, tf.Tensor], positions: tf.Tensor) -> dict[str, tf.Tensor]:
        out = self.history_reasons(query[F.HISTORY_ITEM_IDS], positions)
        if self.query_tower is None:
            shape = tf.shape(positions)
            out.update(
                {
                    S.REASON_FRIEND_IDS: tf.fill(shape, F.PAD),
                    S.REASON_FRIEND_SCORES: tf.zeros(shape, tf.float32),
                    S.REASON_FRIEND_HAS_ITEM: tf.zeros(shape, tf.bool),
                }
            )
            return out
        out.update(self.friend_reasons(query[F.FRIEND_IDS], positions))
        return out

    def history_reasons(self, history: tf.Tensor, positions: tf.Tensor) -> dict[str, tf.Tensor]:
        """``[B, K, reasons]`` history items with the largest contribution to each returned item."""
        scorer = self.scorer
        index = scorer.position.lookup(history)  # [B, L], -1: padding or outside the catalogue
        length = tf.shape(index)[1]
        earlier = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0) & ~tf.eye(
            length, dtype=tf.bool
        )
        repeated = tf.reduce_any(tf.equal(index[:, :, tf.newaxis], index[:, tf.newaxis, :]) & earlier, axis=2)
        usable = (index >= 0) & ~repeated  # each history item once
        items = tf.maximum(positions, 0)
        similarity = tf.matmul(
            scorer.stored.gather(items), scorer.stored.gather(tf.maximum(index, 0)), transpose_b=True
        )  # [B, K, L]
        contribution = similarity / scorer.temperature
        evidence = tf.zeros_like(contribution)
        if scorer.graph_weight > 0:
            evidence = scorer.graph_weight * self.edge_weights(index, items)
            contribution += evidence
        shown = usable[:, tf.newaxis, :] & (positions >= 0)[:, :, tf.newaxis]
        reasons = min(self.reasons, history.shape[1] or self.reasons)
        best = tf.math.top_k(tf.where(shown, contribution, -np.inf), k=reasons)
        empty = tf.math.is_inf(best.values)
        return {
            S.REASON_ITEM_IDS: tf.where(empty, F.PAD, tf.gather(history, best.indices, batch_dims=1)),
            S.REASON_SCORES: tf.where(empty, 0.0, best.values),
            S.REASON_EVIDENCE: tf.where(empty, 0.0, tf.gather(evidence, best.indices, batch_dims=2)),
        }

    def edge_weights(self, sources: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """``[B, K, L]``: the graph weight of the edge from history item ``l`` to returned item ``k``.

        Args:
          sources: ``[B, L]`` history positions (-1: none); targets: ``[B, K]`` returned positions.
        """
        scorer, size = self.scorer, self.scorer.size
        flat = tf.reshape(sources, [-1])
        safe = tf.maximum(flat, 0)
        starts = tf.where(flat >= 0, tf.gather(scorer.splits, safe), 0)
        ends = tf.where(flat >= 0, tf.gather(scorer.splits, safe + 1), 0)
        edges = tf.ragged.range(starts, ends)
        # Ascending: by history slot, then by target (the graph's edges are sorted by source, target).
        keys = edges.value_rowids() * size + tf.gather(scorer.targets, edges.flat_values)
        weights = tf.gather(scorer.weights, edges.flat_values)
        batch, length = tf.shape(sources, tf.int64)[0], tf.shape(sources, tf.int64)[1]
        slots = tf.reshape(tf.range(batch * length), tf.stack([batch, 1, length]))
        return lookup(keys, weights, slots * size + targets[:, :, tf.newaxis])

    def friend_reasons(self, friends: tf.Tensor, positions: tf.Tensor) -> dict[str, tf.Tensor]:
        """``[B, K]``: a friend who has each item (the first in the list), else the one liking it most."""
        count, size = tf.shape(friends, tf.int64)[1], self.scorer.size
        known = self.users.rows.lookup(friends) > 0  # [B, F]
        owned = self.users.known_pairs(tf.reshape(friends, [-1]))  # (batch row * F + friend, item)
        keys = (owned[:, 0] // count) * size + owned[:, 1]
        order = tf.argsort(keys, stable=True)  # equal keys: the friend listed first comes first
        sorted_keys = tf.concat([tf.gather(keys, order), tf.constant([NEVER], tf.int64)], axis=0)
        wanted = tf.range(tf.shape(positions, tf.int64)[0])[:, tf.newaxis] * size + positions
        at = tf.searchsorted(sorted_keys, tf.reshape(wanted, [-1]))
        has = tf.reshape(tf.equal(tf.gather(sorted_keys, at), tf.reshape(wanted, [-1])), tf.shape(positions))
        owners = tf.concat([tf.gather(owned[:, 0], order), tf.zeros([1], tf.int64)], axis=0)  # NEVER's: 0
        owner = tf.reshape(tf.gather(owners, at) % count, tf.shape(positions))
        vectors = self.query_tower(self.users(tf.reshape(friends, [-1])), training=False)
        vectors = tf.reshape(vectors, tf.stack([-1, count, tf.shape(vectors, tf.int64)[1]]))
        liking = tf.matmul(self.scorer.stored.gather(tf.maximum(positions, 0)), vectors, transpose_b=True)
        liking = tf.where(known[:, tf.newaxis, :], liking / self.scorer.temperature, -np.inf)  # [B, K, F]
        chosen = tf.where(has, owner, tf.argmax(liking, axis=2))
        score = tf.gather(liking, chosen, batch_dims=2)
        named = (has | tf.math.is_finite(score)) & (positions >= 0)
        return {
            S.REASON_FRIEND_IDS: tf.where(named, tf.gather(friends, chosen, batch_dims=1), F.PAD),
            S.REASON_FRIEND_SCORES: tf.where(named & tf.math.is_finite(score), score, 0.0),
            S.REASON_FRIEND_HAS_ITEM: has & named,
        }
