"""Business rules at serving: which catalogue items a request may get back.

A request may name items to choose from (``include_item_ids``), items never to return
(``exclude_item_ids``), attribute values an item must have one of (``include_attributes``) and
attribute values it must have none of (``exclude_attributes``); an empty list (all ``""``) sets no
rule. An attribute is a categorical candidate feature's value written ``<vocabulary>:<value>``
(``category:Drama``, ``tag:rock``; ``msrec.signatures.item_attribute``). Besides the request's
rules, the export's block list (``msrec export --block-items FILE``) hides items from every
signature, and the signatures that know the user exclude the user's known items.

``Rules`` applies all of them two ways with the same meaning: to a ``[B, N]`` score matrix (brute
force: scatters, and one sparse ``[N, attributes]`` product for the attribute rules) and to a flat
list of (row, catalogue position) candidates (partitioned retrieval: sorted keys and binary search,
``O(candidates * log)``), so a filtered list is exact either way. Core TF ops only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import signatures as S
from trainer.catalog import decode

NEVER = np.iinfo(np.int64).max  # a key no (row, item) pair has: keeps every sorted key list non-empty


def attribute_features(contract: Sequence[F.Feature]) -> list[F.Feature]:
    """The candidate features that are categorical attributes: string sets with their own vocabulary."""
    words_or_items = (F.TOKEN_VOCAB, F.ITEM_VOCAB)
    return [
        f
        for f in F.select(tuple(contract), F.CANDIDATE)
        if f.kind == F.SET and f.dtype == F.STRING and f.vocabulary and f.vocabulary not in words_or_items
    ]


def attribute_rows(features: Mapping[str, np.ndarray], contract: Sequence[F.Feature]) -> list[list[str]]:
    """Each item's attribute strings (``category:Drama``...) from its candidate features (``[N, L]``)."""
    rows: list[list[str]] = [[] for _ in range(len(features[F.ITEM_ID]))]
    for feature in attribute_features(contract):
        for i, values in enumerate(features.get(feature.name, ())):
            rows[i] += [S.item_attribute(feature.vocabulary, v) for v in decode(values) if v]
    return rows


def sorted_keys(keys: tf.Tensor) -> tf.Tensor:
    """``keys`` sorted, with ``NEVER`` appended."""
    return tf.concat([tf.sort(keys), tf.constant([NEVER], tf.int64)], axis=0)


def member(keys: tf.Tensor, sorted_set: tf.Tensor) -> tf.Tensor:
    """Whether each of ``keys`` is in ``sorted_set`` (``sorted_keys``), same shape as ``keys``."""
    flat = tf.reshape(keys, [-1])
    found = tf.gather(sorted_set, tf.searchsorted(sorted_set, flat))  # NEVER last: always in range
    return tf.reshape(tf.equal(found, flat), tf.shape(keys))


def lookup(keys: tf.Tensor, values: tf.Tensor, wanted: tf.Tensor) -> tf.Tensor:
    """``values`` at the ``wanted`` keys, 0 where absent (``keys`` ascending, ``wanted`` any shape)."""
    keys = tf.concat([keys, tf.constant([NEVER], tf.int64)], axis=0)
    values = tf.concat([values, tf.zeros([1], values.dtype)], axis=0)
    flat = tf.reshape(wanted, [-1])
    at = tf.searchsorted(keys, flat)
    found = tf.where(
        tf.equal(tf.gather(keys, at), flat), tf.gather(values, at), tf.zeros_like(flat, values.dtype)
    )
    return tf.reshape(found, tf.shape(wanted))


class ItemAttributes(tf.Module):
    """Each catalogue item's attribute ids, for the attribute rules; one id per attribute string."""

    def __init__(self, rows: Sequence[Sequence[str]]):
        super().__init__()
        names = sorted({a for row in rows for a in row})
        self.names, self.count = tuple(names), max(len(names), 1)
        index = {a: i for i, a in enumerate(names)}
        width = max([len(r) for r in rows] + [1])
        ids = np.full((len(rows), width), -1, np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = [index[a] for a in row]
        self.ids = tf.constant(ids)
        keys = tf.constant(np.array(names or ["\x00"], dtype=object))
        values = tf.range(len(names) or 1, dtype=tf.int64) if names else tf.constant([-1], tf.int64)
        self.lookup = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), -1)
        items, slots = np.nonzero(ids >= 0)
        incidence = np.unique(np.stack([items, ids[items, slots]], axis=1), axis=0)  # sorted, once each
        self.incidence = tf.SparseTensor(
            incidence.astype(np.int64).reshape(-1, 2),
            np.ones(len(incidence), np.float32),
            [len(rows), self.count],
        )


class Request(NamedTuple):
    """A request's own rules, as catalogue positions and attribute ids (``-1``: unknown or padding)."""

    include_items: tf.Tensor  # [B, I] positions
    exclude_items: tf.Tensor  # [B, E]
    include_attributes: tf.Tensor  # [B, A] attribute ids
    exclude_attributes: tf.Tensor  # [B, X]
    wants_items: tf.Tensor  # [B] bool: the row named items to choose from
    wants_attributes: tf.Tensor  # [B] bool: the row named attributes to choose by


def request(
    position: tf.lookup.StaticHashTable, attributes: ItemAttributes, inputs: Mapping[str, tf.Tensor]
) -> Request:
    """The four filter inputs of a signature (``[B, *]`` strings padded with ``""``) as a ``Request``."""
    given = lambda name: tf.reduce_any(tf.not_equal(inputs[name], F.PAD), axis=1)  # noqa: E731
    return Request(
        include_items=position.lookup(inputs[S.INCLUDE_ITEM_IDS]),
        exclude_items=position.lookup(inputs[S.EXCLUDE_ITEM_IDS]),
        include_attributes=attributes.lookup.lookup(inputs[S.INCLUDE_ATTRIBUTES]),
        exclude_attributes=attributes.lookup.lookup(inputs[S.EXCLUDE_ATTRIBUTES]),
        wants_items=given(S.INCLUDE_ITEM_IDS),
        wants_attributes=given(S.INCLUDE_ATTRIBUTES),
    )


def pairs(values: tf.Tensor) -> tf.Tensor:
    """``[M, 2]`` (row, value) of the non-negative entries of ``[B, L]`` ``values``."""
    where = tf.where(values >= 0)
    return tf.stack([where[:, 0], tf.gather_nd(values, where)], axis=1)


class Rules:
    """What one request may not get back: its exclusions, its own rules and the export's block list.

    Args:
      size: the catalogue's size ``N``.
      exclude: ``[M, 2]`` (row, catalogue position) pairs never to return (known items...), or None.
      wanted: the request's filter inputs (``request``), or None for a signature without filters.
      attributes: the catalogue's ``ItemAttributes`` (needed with ``wanted``).
      blocked: ``[N]`` bool, the export's block list, or None.
    """

    def __init__(
        self,
        size: int,
        exclude: tf.Tensor | None = None,
        wanted: Request | None = None,
        attributes: ItemAttributes | None = None,
        blocked: tf.Tensor | None = None,
    ):
        self.size, self.wanted, self.attributes, self.blocked = size, wanted, attributes, blocked
        parts = [] if exclude is None else [exclude]
        if wanted is not None:
            parts.append(pairs(wanted.exclude_items))
        self.exclude = tf.concat(parts, axis=0) if parts else None

    @property
    def excluded_count(self) -> tf.Tensor:
        """How many (row, item) pairs are excluded in the whole request (a bound for any row)."""
        return tf.constant(0, tf.int32) if self.exclude is None else tf.shape(self.exclude)[0]

    def include_pairs(self) -> tf.Tensor | None:
        """``[M, 2]`` (row, position) of the items the request names to choose from, or None."""
        return None if self.wanted is None else pairs(self.wanted.include_items)

    def dense(self, scores: tf.Tensor) -> tf.Tensor:
        """``scores [B, N]`` with ``-inf`` wherever an item may not be returned."""
        hidden = tf.constant(-np.inf, scores.dtype)
        if self.exclude is not None:
            fill = tf.fill(tf.shape(self.exclude)[:1], hidden)
            scores = tf.tensor_scatter_nd_update(scores, self.exclude, fill)
        if self.blocked is not None:
            scores = tf.where(self.blocked[tf.newaxis, :], hidden, scores)
        if self.wanted is None:
            return scores
        wanted, shape = self.wanted, tf.shape(scores, tf.int64)
        listed = pairs(wanted.include_items)
        named = tf.scatter_nd(listed, tf.ones(tf.shape(listed)[:1], tf.int32), shape)
        allowed = tf.logical_or(~wanted.wants_items[:, tf.newaxis], named > 0)
        having = self._having(wanted.include_attributes, shape[0])
        allowed &= tf.logical_or(~wanted.wants_attributes[:, tf.newaxis], having)
        allowed &= ~self._having(wanted.exclude_attributes, shape[0])
        return tf.where(allowed, scores, hidden)

    def _having(self, attribute_ids: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """``[B, N]``: whether each item has one of each row's attributes (one sparse product)."""
        named = pairs(attribute_ids)
        indicator = tf.scatter_nd(
            tf.reverse(named, axis=[1]),
            tf.ones(tf.shape(named)[:1], tf.float32),
            tf.stack([tf.constant(self.attributes.count, tf.int64), rows]),
        )
        return tf.transpose(tf.sparse.sparse_dense_matmul(self.attributes.incidence, indicator)) > 0

    def flat(self, rows: tf.Tensor, positions: tf.Tensor, scores: tf.Tensor) -> tf.Tensor:
        """``scores [M]`` of the candidates (``rows``, ``positions``) with ``-inf`` where not allowed."""
        if self.exclude is None and self.blocked is None and self.wanted is None:
            return scores
        keys = rows * self.size + positions
        drop = tf.zeros_like(keys, tf.bool)
        if self.exclude is not None:
            drop |= member(keys, sorted_keys(self.exclude[:, 0] * self.size + self.exclude[:, 1]))
        if self.blocked is not None:
            drop |= tf.gather(self.blocked, positions)
        if self.wanted is not None:
            wanted, named = self.wanted, self.include_pairs()
            listed = member(keys, sorted_keys(named[:, 0] * self.size + named[:, 1]))
            drop |= tf.gather(wanted.wants_items, rows) & ~listed
            ids = tf.gather(self.attributes.ids, positions)  # [M, W]
            attribute_keys = tf.where(ids >= 0, rows[:, tf.newaxis] * self.attributes.count + ids, -1)
            having = self._flat_having(attribute_keys, wanted.include_attributes)
            drop |= tf.gather(wanted.wants_attributes, rows) & ~having
            drop |= self._flat_having(attribute_keys, wanted.exclude_attributes)
        return tf.where(drop, tf.constant(-np.inf, scores.dtype), scores)

    def _flat_having(self, attribute_keys: tf.Tensor, attribute_ids: tf.Tensor) -> tf.Tensor:
        named = pairs(attribute_ids)
        wanted = sorted_keys(named[:, 0] * self.attributes.count + named[:, 1])
        return tf.reduce_any(member(attribute_keys, wanted) & (attribute_keys >= 0), axis=1)
