"""Item text -> frozen sentence vectors: the ``item_text/`` records, each item's text embedded once.

Sits beside the candidates at the end of the encoding (``encode.EncodeRecords``). Every catalog
item's content (title, categories, tag names, description: ``records.Item``) is joined by
``features.item_text`` into the item text the export also embeds for new items, and encoded by
the sentence encoder ``text_encoder.resolve`` chose::

    catalog ids + (item, Item) --JoinItems, Texts--> (item, item text) --Batch--> Embed --> tf.Example
                                                                  vector cache <-> |

An item whose text is empty (no row in ``items``, or only empty fields) is skipped and counted:
the trainer gives an item without a vector zeros.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from typing import Any, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import Metrics
from apache_beam.utils import shared

from msrec import features as F
from preprocessing import progress
from preprocessing.records import Item
from preprocessing.rows import NAMESPACE
from preprocessing.text_encoder import TextEncoder, VectorCache, cache_key

log = logging.getLogger(__name__)

# Counter names (namespace ``msrec.preprocess``), kept as they were when the module was ``text``.
HITS, MISSES, EMBEDDED = "text.cache_hits", "text.cache_misses", "text.embedded"
NO_TEXT, WRITE_ERRORS, BUSY_MS = "text.no_text", "text.cache_write_errors", "text.busy_ms"
LOOKUP_BATCH = 1024  # texts per cache lookup; the misses among them are sorted by length and encoded
ENCODE_BATCH = 64  # texts per encoder call, sorted by length so that little is padding


def item_fields(item: Item | None) -> dict[str, Any]:
    """The fields ``features.item_text`` reads, from an item's record (all empty without one)."""
    if item is None:
        return {"title": "", "categories": [], "tags": [], "description": ""}
    return {
        "title": item.title,
        "categories": list(item.categories),
        "tags": list(item.tags),
        "description": item.description,
    }


class _ItemTexts(beam.DoFn):
    """``(item, {"catalog", "items"})`` -> ``(item, item text)`` for catalog items with a non-empty one."""

    def __init__(self, fields: Sequence[str]):
        self._fields = tuple(fields)
        self._no_text = Metrics.counter(NAMESPACE, NO_TEXT)

    def process(self, element) -> Iterator[tuple[str, str]]:
        item, grouped = element
        if not grouped["catalog"]:
            return
        rows = list(grouped["items"])
        # Two item rows with one id: the smallest, as content.merge chooses.
        text = F.item_text(item_fields(min(rows) if rows else None), self._fields)
        if text:
            yield item, text
        else:
            self._no_text.inc()


class _Embed(beam.DoFn):
    """A batch of ``(item, text)`` -> ``(item, text, vector)``: cached vectors read, the rest encoded.

    The encoder is loaded on the first miss, once per worker process (``shared.Shared``), so a
    rerun whose texts are all cached never loads it.
    """

    def __init__(self, encoder: TextEncoder, handle: shared.Shared, clock: progress.Clock | None = None):
        self._encoder, self._handle, self._clock = encoder, handle, clock
        self._counters = {n: Metrics.counter(NAMESPACE, n) for n in (HITS, MISSES, EMBEDDED, WRITE_ERRORS)}
        self._busy = Metrics.counter(NAMESPACE, BUSY_MS)

    def setup(self) -> None:
        self._cache = VectorCache(self._encoder.cache, self._encoder.dim)
        self._done = self._encoded = 0  # this worker's texts, and how many of them it encoded
        # Cache files are tiny: latency counts, not bandwidth (one round trip each on gs://).
        self._pool = concurrent.futures.ThreadPoolExecutor(16)
        self._model = None

    def teardown(self) -> None:
        self._pool.shutdown()

    def _load(self):
        if self._model is None:
            spec = self._encoder

            def load():
                from msrec.text import SentenceEncoder

                return SentenceEncoder(spec.checkpoint)

            self._model = self._handle.acquire(load, tag=spec.identity)
        return self._model

    def process(self, batch: Sequence[tuple[str, str]]) -> Iterator[tuple[str, str, np.ndarray]]:
        started = time.perf_counter()
        keys = [cache_key(self._encoder.identity, text) for _, text in batch]
        vectors = list(self._pool.map(self._cache.get, keys))
        missing = {k: text for k, (_, text), v in zip(keys, batch, vectors, strict=True) if v is None}
        fresh = {}
        if missing:  # a text twice in the batch is encoded once
            fresh = dict(zip(missing, self._load().embed(list(missing.values()), ENCODE_BATCH), strict=True))
            self._counters[WRITE_ERRORS].inc(sum(self._pool.map(self._store, fresh.items())))
        self._counters[HITS].inc(len(batch) - sum(v is None for v in vectors))
        self._counters[MISSES].inc(sum(v is None for v in vectors))
        self._counters[EMBEDDED].inc(len(fresh))
        self._busy.inc(round(1000 * (time.perf_counter() - started)))
        self._done, self._encoded = self._done + len(batch), self._encoded + len(fresh)
        if self._clock is not None:
            self._clock.say(f"item text: {self._done:,} texts, {self._encoded:,} encoded (the rest cached)")
        for (item, text), key, vector in zip(batch, keys, vectors, strict=True):
            yield item, text, fresh[key] if vector is None else vector

    def _store(self, key_vector: tuple[str, np.ndarray]) -> int:
        """1 if the vector could not be cached (it is still used): a read-only cache slows, not fails."""
        try:
            self._cache.put(*key_vector)
            return 0
        except Exception as err:  # noqa: BLE001
            log.warning("text cache %s not writable: %s", self._encoder.cache, err)
            return 1


def example(item: str, text: str, vector: Iterable[float], records: tuple[F.Feature, ...]) -> bytes:
    """One serialized ``item_text/`` record (``features.text_records``).

    Deterministic: protobuf otherwise writes an Example's feature map in hash order, so the same
    record had other bytes in another process (``PYTHONHASHSEED``), and two runs could not be
    compared byte for byte.
    """
    values = {F.ITEM_ID: item, F.ITEM_TEXT: text, F.ITEM_TEXT_VECTOR: list(vector)}
    return F.encode_example(values, records).SerializeToString(deterministic=True)


class EmbedItemText(beam.PTransform):
    """``{"catalog": item ids, "items": (item, Item)}`` -> serialized ``item_text/`` tf.Examples.

    One record per catalog item with a non-empty text: its id, the text, and the text's
    L2-normalised sentence vector. Counters (namespace ``msrec.preprocess``): ``text.cache_hits``,
    ``text.cache_misses``, ``text.embedded``, ``text.no_text``, ``text.busy_ms``.
    """

    def __init__(
        self, encoder: TextEncoder, fields: Sequence[str] = F.TEXT_FIELDS, clock: progress.Clock | None = None
    ):
        super().__init__()
        unknown = sorted(set(fields) - set(F.TEXT_FIELDS))
        if unknown:
            raise ValueError(f"data.text_fields: unknown fields {unknown}; an item has {list(F.TEXT_FIELDS)}")
        self._encoder, self._fields, self._clock = encoder, tuple(fields), clock

    def expand(self, inputs):
        records = F.text_records(self._encoder.dim)
        return (
            {
                "catalog": inputs["catalog"] | "KeyCatalog" >> beam.Map(lambda item: (item, None)),
                "items": inputs["items"],
            }
            | "JoinItems" >> beam.CoGroupByKey()
            | "Texts" >> beam.ParDo(_ItemTexts(self._fields))
            | "Batch" >> beam.BatchElements(min_batch_size=LOOKUP_BATCH, max_batch_size=LOOKUP_BATCH)
            | "Embed" >> beam.ParDo(_Embed(self._encoder, shared.Shared(), self._clock))
            | "Encode" >> beam.Map(lambda row: example(*row, records))
        )


def report(counts: Mapping[str, int], encoder: TextEncoder) -> dict[str, Any]:
    """The ``text_embedding`` entry of ``metadata.json``, from the run's counters by name.

    ``seconds`` is the time the workers spent in the step (cache reads and writes, encoder
    load, encoding), summed over workers; ``embedded`` counts texts run through the encoder.
    """
    hits, items = counts.get(HITS, 0), counts.get(HITS, 0) + counts.get(MISSES, 0)
    seconds = counts.get(BUSY_MS, 0) / 1000
    out = {
        "encoder": encoder.setting,
        "dim": encoder.dim,
        "items": items,
        "embedded": counts.get(EMBEDDED, 0),
        "cache_hits": hits,
        "hit_rate": round(hits / items, 4) if items else 0.0,
        "seconds": round(seconds, 2),
        "items_per_second": round(items / seconds, 1) if seconds else 0.0,
        "without_text": counts.get(NO_TEXT, 0),
        "cache": encoder.cache,
    }
    if counts.get(WRITE_ERRORS):
        out["cache_write_errors"] = counts[WRITE_ERRORS]
    return out
