"""Joins item content and user profiles onto examples and encodes them as tf.Example.

Items and users are small next to interactions, so they join as side inputs
(a dict per worker) rather than through a shuffle.
"""

from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam

from msrec import features as F
from preprocessing.records import Item, User


def item_content(item: Item | None) -> dict[str, list[str]]:
    if item is None:
        return {F.ITEM_CATEGORIES: [], F.ITEM_TAGS: [], F.ITEM_TITLE_TOKENS: []}
    return {
        F.ITEM_CATEGORIES: list(item.categories),
        F.ITEM_TAGS: list(item.tags),
        F.ITEM_TITLE_TOKENS: list(item.title_tokens),
    }


def with_content(
    values: dict[str, Any],
    items: Mapping[str, Item],
    users: Mapping[str, User],
    neighbors: Mapping[str, list] | None = None,
) -> dict:
    """Adds the target item's content and graph neighbours and, if there is a user, the profile."""
    out = dict(values)
    if F.ITEM_ID in values:
        out.update(item_content(items.get(values[F.ITEM_ID])))
        near = (neighbors or {}).get(values[F.ITEM_ID], [])
        out[F.ITEM_NEIGHBOR_IDS] = [n for n, _ in near]
        out[F.ITEM_NEIGHBOR_WEIGHTS] = [w for _, w in near]
    if F.USER_ID in values:
        user = users.get(values[F.USER_ID])
        out[F.USER_ATTRIBUTES] = list(user.attributes) if user else []
    return out


class _Encode(beam.DoFn):
    def __init__(self, features: tuple[F.Feature, ...]):
        self._features = features

    def setup(self):
        self._write = F.ExampleWriter(self._features)  # per worker: it keeps each id's encoding

    def process(self, values, items, users, neighbors):
        yield self._write(with_content(values, items, users, neighbors))


class EncodeExamples(beam.PTransform):
    """Value dicts -> serialized tf.Example bytes, with content and item neighbours joined in."""

    def __init__(self, features: tuple[F.Feature, ...], items, users, neighbors):
        super().__init__()
        self._features, self._items, self._users, self._neighbors = features, items, users, neighbors

    def expand(self, values):
        return values | "Encode" >> beam.ParDo(
            _Encode(self._features),
            items=beam.pvalue.AsDict(self._items),
            users=beam.pvalue.AsDict(self._users),
            neighbors=beam.pvalue.AsDict(self._neighbors),
        )
