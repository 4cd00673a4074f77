"""Vocabularies and popularity, counted on TRAIN only.

A vocabulary file has one value per line, most frequent first (ties by value),
which is the order ``StringLookup`` indexes them in. Values seen fewer than the
configured minimum are left out, so they fall into the OOV bucket.
"""

from __future__ import annotations

from typing import Iterable

import apache_beam as beam

from msrec import features as F
from msrec import paths
from msrec.config import DataConfig
from preprocessing import encode


def ordered(counts: Iterable[tuple[str, int]], min_count: int = 1) -> list[tuple[str, int]]:
    """Sorts ``(value, count)`` by count descending then value, dropping rare ones."""
    kept = [(value, n) for value, n in counts if n >= min_count and value]
    return sorted(kept, key=lambda vn: (-vn[1], vn[0]))


class WriteVocabulary(beam.PTransform):
    """``(value, count)`` pairs -> ``<data>/vocab/<name>.txt`` (and counts, if asked).

    Returns a one-element PCollection with ``(name, size)`` for the metadata.
    """

    def __init__(self, data_dir: str, name: str, min_count: int = 1, counts_path: str | None = None):
        super().__init__()
        self._data_dir, self._name = data_dir, name
        self._min_count, self._counts_path = min_count, counts_path

    def expand(self, counts):
        min_count = self._min_count
        rows = (
            counts
            | "Sum" >> beam.CombinePerKey(sum)
            | "Collect" >> beam.combiners.ToList()
            | "Order" >> beam.Map(lambda pairs: ordered(pairs, min_count))
        )
        _write_lines(
            rows | "Values" >> beam.Map(lambda r: [v for v, _ in r]),
            paths.vocab_file(self._data_dir, self._name),
            "WriteValues",
        )
        if self._counts_path:
            _write_lines(
                rows | "Counts" >> beam.Map(lambda r: [str(n) for _, n in r]),
                self._counts_path,
                "WriteCounts",
            )
        name = self._name
        return rows | "Size" >> beam.Map(lambda r: (name, len(r)))


def _write_lines(lines, path: str, label: str) -> None:
    # One element holding the whole file keeps the order and the exact file name.
    (
        lines
        | f"{label}Join" >> beam.Map(lambda values: "\n".join(values))
        | label >> beam.io.WriteToText(path, num_shards=1, shard_name_template="")
    )


CONTENT_VOCABS = (
    (F.ITEM_CATEGORIES, F.CATEGORY_VOCAB),
    (F.ITEM_TAGS, F.TAG_VOCAB),
    (F.ITEM_TITLE_TOKENS, F.TOKEN_VOCAB),
)


class BuildVocabularies(beam.PTransform):
    """Every vocabulary, counted on TRAIN: ids by interactions, content by item popularity.

    Input: ``{"item_counts", "timelines", "items", "users"}``. Output: ``(name, size)`` pairs.
    """

    def __init__(self, data_dir: str, data: DataConfig):
        super().__init__()
        self._dir, self._data = data_dir, data

    def expand(self, inputs):
        item_counts, timelines = inputs["item_counts"], inputs["timelines"]
        out_dir, data = self._dir, self._data
        user_counts = timelines | "UserTrain" >> beam.Map(lambda t: (t.user, len(t.train_items)))
        content = item_counts | "Content" >> beam.FlatMap(
            lambda kv, items: [
                (f, v, kv[1]) for f, vs in encode.item_content(items.get(kv[0])).items() for v in vs
            ],
            items=beam.pvalue.AsDict(inputs["items"]),
        )
        attributes = user_counts | "Attributes" >> beam.FlatMap(
            lambda kv, users: [(a, 1) for a in (users[kv[0]].attributes if kv[0] in users else ())],
            users=beam.pvalue.AsDict(inputs["users"]),
        )
        item_vocab = WriteVocabulary(
            out_dir, F.ITEM_VOCAB, data.min_item_count, paths.item_counts_file(out_dir)
        )
        sizes = [
            item_counts | "ItemVocab" >> item_vocab,
            user_counts | "UserVocab" >> WriteVocabulary(out_dir, F.USER_VOCAB, data.min_user_count),
            attributes | "AttributeVocab" >> WriteVocabulary(out_dir, F.ATTRIBUTE_VOCAB),
        ]
        for feature, name in CONTENT_VOCABS:
            counts = content | f"Pick_{name}" >> beam.FlatMap(
                lambda fvn, feature=feature: [(fvn[1], fvn[2])] if fvn[0] == feature else []
            )
            sizes.append(counts | f"Vocab_{name}" >> WriteVocabulary(out_dir, name))
        return (
            sizes
            | "AllSizes" >> beam.Flatten()
            | "SizeList" >> beam.combiners.ToList()
            | "SizeDict" >> beam.Map(lambda kv: ("vocabulary_sizes", dict(kv)))
        )
