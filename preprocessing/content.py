"""Item content and user profiles keyed by id, with tags from more than one source joined onto items.

The pipeline's second step (``JoinContent``), after the sources are read. Last.fm keeps an artist's
tags in a separate table of taggings (who tagged which artist with which tag id) and the tag names
in a third file. ``JoinItemTags`` turns those into each item's most used tag names, merged with
whatever tags the ``items`` source already gives.
"""

from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam

from preprocessing.records import Item, ItemTag


def top_tags(counts: Iterable[tuple[str, int]], k: int) -> tuple[str, ...]:
    """The ``k`` most used tags, most used first, ties by name."""
    return tuple(tag for tag, _ in sorted(counts, key=lambda tn: (-tn[1], tn[0]))[:k])


def merge(item: str, grouped: dict[str, list[Any]]) -> Item:
    """An item's row (or an empty one, when only tags know it) with the joined tags appended."""
    rows, tags = grouped["items"], grouped["tags"]
    # Two item rows with one id (not exact duplicates): the smallest, so every run picks the same.
    row = min(rows) if rows else Item(item, (), (), ())
    joined = tags[0] if tags else ()
    return row._replace(tags=tuple(dict.fromkeys(row.tags + joined)))


class JoinItemTags(beam.PTransform):
    """``{"items": (item, Item), "taggings": ItemTag, "names": TagName}`` -> ``(item, Item)``.

    Tag ids are replaced by their names when a ``names`` source is given (the
    reference check has already dead-lettered ids without one). Each item keeps
    its ``k`` most used tags.
    """

    def __init__(self, k: int):
        super().__init__()
        self._k = k

    def expand(self, inputs):
        taggings, k = inputs["taggings"], self._k
        if "names" in inputs:
            taggings = (
                {
                    "taggings": taggings | "ByTagId" >> beam.Map(lambda t: (t.tag, t.item)),
                    "names": inputs["names"] | "KeyNames" >> beam.Map(lambda n: (n.tag, n.name)),
                }
                | "JoinNames" >> beam.CoGroupByKey()
                | "Named"
                >> beam.FlatMap(
                    lambda kv: [
                        ItemTag(item, name)
                        for name in sorted(kv[1]["names"])[:1]
                        for item in kv[1]["taggings"]
                    ]
                )
            )
        tags = (
            taggings
            | "PerItemTag" >> beam.Map(lambda t: ((t.item, t.tag), 1))
            | "CountTaggings" >> beam.CombinePerKey(sum)
            | "ByItem" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
            | "GroupByItem" >> beam.GroupByKey()
            | "TopTags" >> beam.MapTuple(lambda item, counts: (item, top_tags(counts, k)))
        )
        return (
            {"items": inputs["items"], "tags": tags}
            | "JoinTags" >> beam.CoGroupByKey()
            | "Merge" >> beam.MapTuple(lambda item, grouped: (item, merge(item, grouped)))
        )


def _keyed(records: dict, kind: str, key: str):
    """``(id, record)`` of source ``kind``, or nothing when the dataset has no such source."""
    if kind not in records:
        return records["interactions"].pipeline | f"No{kind.title()}" >> beam.Create([])
    return records[kind] | f"Key{kind.title()}" >> beam.Map(lambda r: (getattr(r, key), r))


class JoinContent(beam.PTransform):
    """The sources' valid records (``sources.ReadSources``) -> ``{"items": (item, Item), "users":
    (user, User)}``: item content with ``item_tags`` (and ``tag_names``) joined in when the dataset
    has them, each item keeping its ``tags`` most used tags; empty for a source the dataset lacks."""

    def __init__(self, tags: int):
        super().__init__()
        self._tags = tags

    def expand(self, records):
        items = _keyed(records, "items", "item")
        if "item_tags" in records:
            inputs = {"items": items, "taggings": records["item_tags"]}
            if "tag_names" in records:
                inputs["names"] = records["tag_names"]
            items = inputs | "ItemTags" >> JoinItemTags(self._tags)
        return {"items": items, "users": _keyed(records, "users", "user")}
