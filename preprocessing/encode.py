"""Joins item content and user profiles onto examples and encodes them as tf.Example.

``EncodeRecords``, the pipeline's step after the graphs, makes every record folder's examples.
Items and users are small next to interactions, so they join as side inputs
(a dict per worker) rather than through a shuffle. The dicts hold packed records (``Lookups``),
unpacked when a key is read: measured with tracemalloc on the 25 M benchmark's items, an item's
record takes about 1,010 bytes live and 336 packed, its 20 graph neighbours 3,030 and 474, so
500,000 items take about 2 GB live in every worker. ``EncodeTimelines`` writes all of a
user's examples in one step: the profile part of the message is encoded once per user and
each item's content part once per worker (``features.ExampleWriter.part``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator, NamedTuple

import apache_beam as beam

from msrec import features as F
from msrec import paths
from msrec.config import DataConfig
from preprocessing import progress, sequences, text_encoder
from preprocessing.batches import packed, unpacked
from preprocessing.item_text import EmbedItemText
from preprocessing.records import Item, User

# The parts of a training example shared by many: a user's, and a target item's.
PROFILE = (F.USER_ID, F.USER_ATTRIBUTES, F.FRIEND_IDS, F.FRIEND_WEIGHTS)
ITEM_SIDE = (
    F.ITEM_ID,
    F.ITEM_CATEGORIES,
    F.ITEM_TAGS,
    F.ITEM_TITLE_TOKENS,
    F.ITEM_NEIGHBOR_IDS,
    F.ITEM_NEIGHBOR_WEIGHTS,
)


class Lookups(NamedTuple):
    """What the encoders look up by id, as side inputs: PCollections of ``(id, packed record)``
    (``batches.packed``), read in each worker as dicts (``Unpacking``)."""

    items: Any  # Item
    users: Any  # User
    neighbors: Any  # the item graph's [(neighbour, weight), ...]

    @classmethod
    def of(cls, items, users, neighbors) -> Lookups:
        pack = lambda name, pcoll: pcoll | f"Pack{name}" >> beam.MapTuple(lambda k, v: (k, packed(v)))  # noqa: E731
        return cls(pack("Items", items), pack("Users", users), pack("Neighbors", neighbors))

    def side_inputs(self) -> dict[str, Any]:
        return {name: beam.pvalue.AsDict(pcoll) for name, pcoll in self._asdict().items()}


class Unpacking(Mapping):
    """A side input's dict of packed records, read as the records."""

    def __init__(self, packed: Mapping[str, bytes]):
        self._packed = packed

    def __getitem__(self, key: str) -> Any:
        return unpacked(self._packed[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    @classmethod
    def each(cls, *lookups: Mapping[str, bytes]) -> tuple[Unpacking, ...]:
        return tuple(cls(packed) for packed in lookups)


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
        yield self._write(with_content(values, *Unpacking.each(items, users, neighbors)))


class EncodeExamples(beam.PTransform):
    """Value dicts -> serialized tf.Example bytes, with content and item neighbours joined in."""

    def __init__(self, features: tuple[F.Feature, ...], lookups: Lookups):
        super().__init__()
        self._features, self._lookups = features, lookups

    def expand(self, values):
        return values | "Encode" >> beam.ParDo(_Encode(self._features), **self._lookups.side_inputs())


class _EncodeTimeline(beam.DoFn):
    ITEMS_KEPT = 1 << 18  # items whose encoded content a worker keeps (about 200 bytes each)

    def __init__(self, features: tuple[F.Feature, ...], length: int, mode: str):
        self._features, self._length, self._mode = features, length, mode

    def setup(self):
        self._write = F.ExampleWriter(self._features)
        self._items: dict[str, bytes] = {}
        self._rest = [f.name for f in self._features if f.name not in PROFILE + ITEM_SIDE]

    def process(self, timeline_friends, items, users, neighbors):
        timeline, friends = timeline_friends
        items, users, neighbors = Unpacking.each(items, users, neighbors)
        user = users.get(timeline.user)
        profile = {F.USER_ID: timeline.user, F.USER_ATTRIBUTES: list(user.attributes) if user else []}
        profile.update(sequences.friend_features(friends))
        kept = self._write.part(profile, PROFILE)
        for split, values in sequences.examples(timeline, self._length, (), self._mode):
            item = values[F.ITEM_ID]
            content = self._items.get(item)
            if content is None:
                if len(self._items) >= self.ITEMS_KEPT:
                    self._items.clear()
                target = with_content({F.ITEM_ID: item}, items, users, neighbors)
                content = self._items[item] = self._write.part(target, ITEM_SIDE)
            message = self._write.message(kept + content + self._write.part(values, self._rest))
            yield beam.pvalue.TaggedOutput(split, message)


class EncodeTimelines(beam.PTransform):
    """``(Timeline, friends)`` -> serialized tf.Examples on outputs ``train``, ``validation``, ``test``.

    The examples of ``sequences.examples`` with the target's content, its neighbours and the
    user's profile joined in, as ``EncodeExamples`` would give them one by one.
    """

    def __init__(self, features, lookups: Lookups, history_length: int, mode: str = "prefix"):
        super().__init__()
        self._features, self._length, self._mode, self._lookups = features, history_length, mode, lookups

    def expand(self, timelines):
        return timelines | "Encode" >> beam.ParDo(
            _EncodeTimeline(self._features, self._length, self._mode), **self._lookups.side_inputs()
        ).with_outputs(*paths.SPLITS)


class EncodeRecords(beam.PTransform):
    """The users, item content and graphs -> every record folder's serialized tf.Examples.

    Input: ``{"timelines", "user_batches"}`` (``split.SplitByUser``), ``{"items": (item, Item),
    "users": (user, User)}`` (``content.JoinContent``) and ``{"item_graph", "social_graph"}``
    (``graphs.BuildGraphs``). Output, by folder (``msrec.paths``): ``train``, ``validation``, ``test``
    (``EncodeTimelines``); ``users``, each user's latest state for serving; ``candidates``, the
    catalog (every item of any interaction); and ``item_text`` (``item_text.EmbedItemText``) unless
    ``data.text_encoder`` is ``none``.
    """

    def __init__(self, data: DataConfig, clock: progress.Clock | None = None):
        """``clock``: the item text embedding prints progress lines; None: silent."""
        super().__init__()
        self._data, self._clock = data, clock

    def expand(self, inputs):
        data, contract, history = self._data, F.contract(self._data.lengths), self._data.lengths.history
        joined = (
            # Packed: the join holds every timeline at once (see batches.packed).
            {
                "timelines": inputs["timelines"] | "KeyTimelines" >> beam.Map(lambda t: (t.user, packed(t))),
                "friends": inputs["social_graph"],
            }
            | "JoinFriends" >> beam.CoGroupByKey()
            | "WithFriends" >> beam.FlatMap(sequences.with_friends)
        )
        lookups = Lookups.of(inputs["items"], inputs["users"], inputs["item_graph"])
        examples = joined | "Examples" >> EncodeTimelines(contract, lookups, history, data.history_mode)
        records = {split: examples[split] for split in paths.SPLITS}
        latest = joined | "Latest" >> beam.Map(lambda tf_: sequences.latest_state(tf_[0], history, tf_[1]))
        records[paths.USERS] = latest | "EncodeUsers" >> EncodeExamples(
            F.select(contract, F.QUERY, F.EVAL), lookups
        )
        catalog = (
            inputs["user_batches"]
            | "CatalogItems" >> beam.FlatMap(lambda b: {i for t in unpacked(b) for i in t.items})
            | "Distinct" >> beam.Distinct()
        )
        candidates = catalog | "CandidateValues" >> beam.Map(lambda i: {F.ITEM_ID: i})
        records[paths.CANDIDATES] = candidates | "EncodeCandidates" >> EncodeExamples(
            F.select(contract, F.CANDIDATE), lookups
        )
        encoder = text_encoder.resolve(data)
        if encoder is not None:
            records[paths.ITEM_TEXT] = {"catalog": catalog, "items": inputs["items"]} | "EmbedItemText" >> (
                EmbedItemText(encoder, data.text_fields, self._clock)
            )
        return records
