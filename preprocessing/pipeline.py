"""The preprocessing pipeline: raw multi-source files -> TFRecords, vocabularies, metadata.

    sources --(parse, de-duplicate, check references)--> records --> dead_letter/*.jsonl
    items + item_tags (+ tag_names) --JoinItemTags--> items with their most used tags
    interactions -> SplitByUser -> EncodeTimelines -> {train,validation,test}/
                                -> TRAIN item sets (+ item words) -> BuildScoringGraph -> scoring_graph/
                                -> TRAIN + VALIDATION item sets -> scoring_graph_refit/
                                -> latest state  -> EncodeExamples -> users/
                                -> catalog       -> EncodeExamples -> candidates/
                                -> catalog + items -> EmbedItemText -> item_text/ (unless text_encoder=none)
                                -> TRAIN counts  -> WriteVocabulary -> vocab/, item_counts.txt
    then, on the driver: metadata.json and the _SUCCESS marker.

``run`` takes Beam pipeline options unchanged, so the same code runs on the
DirectRunner, Dataflow, Flink or Spark.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from msrec import auto, paths
from msrec import config as msrec_config
from msrec import features as F
from msrec.source_config import DatasetSpec, resolve
from preprocessing import batches, content, encode, graphs, progress, sequences, split, stats, text, vocab
from preprocessing.errors import BadSourceError, check_report  # noqa: F401 (re-exported)
from preprocessing.sources import DEAD, NAMESPACE, VALID, ReadSource, check_source, check_sources

log = logging.getLogger(__name__)


USER_BATCH = 1024  # timelines per element of the steps that work on many users at once


def _keyed(read: dict, kind: str, key: str, pipeline: beam.Pipeline):
    if kind not in read:
        return pipeline | f"No{kind.title()}" >> beam.Create([])
    return read[kind][VALID] | f"Key{kind.title()}" >> beam.Map(lambda r: (getattr(r, key), r))


def _write_records(pcoll, output_dir: str, name: str, shards: int) -> None:
    """``shards`` 0: the runner decides and each bundle streams to its file; a fixed count first
    shuffles every record to its shard, which holds a whole output in memory on the DirectRunner."""
    pcoll | f"Write_{name}" >> beam.io.WriteToTFRecord(
        paths.records_prefix(output_dir, name), file_name_suffix=paths.TFRECORD_SUFFIX, num_shards=shards
    )


def _count(pcoll, name: str):
    return (
        pcoll
        | f"Count_{name}" >> beam.combiners.Count.Globally()
        | f"Name_{name}" >> beam.Map(lambda n: (name, n))
    )


def _items(read: dict, p: beam.Pipeline, k: int):
    """``(item, Item)`` from the ``items`` source, with ``item_tags`` joined in when configured."""
    items = _keyed(read, "items", "item", p)
    if "item_tags" not in read:
        return items
    inputs = {"items": items, "taggings": read["item_tags"][VALID]}
    if "tag_names" in read:
        inputs["names"] = read["tag_names"][VALID]
    return inputs | "ItemTags" >> content.JoinItemTags(k)


def _item_words(read: dict, items):
    """Per category and tag, the items it labels (``graphs.item_words``): every tagging when the
    dataset has an ``item_tags`` source."""
    return graphs.item_words(items, read["item_tags"][VALID] if "item_tags" in read else None)


def _write_dead_letters(read: dict, output_dir: str) -> None:
    (
        tuple(r[DEAD] for r in read.values())
        | "AllDead" >> beam.Flatten()
        | "DeadJson" >> beam.Map(json.dumps, ensure_ascii=False)
        | "WriteDead"
        >> beam.io.WriteToText(
            paths.join(output_dir, paths.DEAD_LETTER, "part"), file_name_suffix=".jsonl", num_shards=1
        )
    )


def _friends(read: dict, timelines, p: beam.Pipeline, k: int):
    """Each user's strongest friends, or nothing when the dataset has no social source."""
    if "social" not in read:
        return p | "NoSocial" >> beam.Create([])
    return {"edges": read["social"][VALID], "timelines": timelines} | "Social" >> graphs.BuildSocialGraph(k)


def _statistics(timelines, item_counts, friends, neighbors, scoring):
    return [
        timelines
        | "UserLengths" >> beam.Map(lambda t: len(t.train_items))
        | "TrainPerUser" >> stats.Distribution("train_interactions_per_user"),
        item_counts
        | "ItemPop" >> beam.Map(lambda kv: kv[1])
        | "TrainPerItem" >> stats.Distribution("train_interactions_per_item"),
        friends
        | "Degrees" >> beam.Map(lambda kv: len(kv[1]))
        | "FriendsPerUser" >> stats.Distribution("friends_per_user_with_friends"),
        neighbors
        | "NeighborCount" >> beam.Map(lambda kv: len(kv[1]))
        | "ItemNeighbors" >> stats.Distribution("item_graph_neighbors"),
        scoring
        | "ScoringSources" >> beam.Map(lambda kv: len(kv[1]))
        | "ScoringNeighbors" >> stats.Distribution("scoring_graph_sources"),
    ]


def _item_counts(user_batches, items: str, labels: tuple[str, str]):
    """``(item, count)`` over the users' ``items`` (``Timeline.train_items`` or ``known_items``)."""
    return (
        user_batches
        | labels[0]
        >> beam.FlatMap(
            lambda b: collections.Counter(i for t in batches.unpacked(b) for i in getattr(t, items)).items()
        )
        | labels[1] >> beam.CombinePerKey(sum)
    )


def build(
    p: beam.Pipeline,
    dataset: DatasetSpec,
    input_dir: str,
    output_dir: str,
    data: msrec_config.DataConfig,
    shards: int,
    clock: progress.Clock | None = None,
) -> None:
    """Adds every step to ``p``; writes a ``stats.json`` the driver turns into metadata.

    ``clock``: the long steps print progress lines (``preprocessing/progress.py``); None: silent.
    """
    contract, lengths = F.contract(data.lengths), data.lengths
    parsed = {
        kind: p | f"Read_{kind}" >> ReadSource(kind, spec, input_dir, clock)
        for kind, spec in dataset.sources.items()
    }
    read = check_sources(parsed, dataset.sources)
    _write_dead_letters(read, output_dir)
    items, users = _items(read, p, lengths.tags), _keyed(read, "users", "user", p)
    timelines = read["interactions"][VALID] | "Split" >> split.SplitByUser()
    # Per batch of users, not per interaction: a shuffle or a combine costs Beam per element.
    # Packed (batches.packed): the stages that wait for the item index keep every batch meanwhile.
    user_batches = (
        timelines
        | "UserBatches" >> beam.BatchElements(min_batch_size=USER_BATCH, max_batch_size=USER_BATCH)
        | "PackUserBatches" >> beam.Map(batches.packed)
    )
    item_counts = _item_counts(user_batches, "train_items", ("TrainItems", "ItemCounts"))
    item_index = (
        item_counts
        | "AllItemCounts" >> beam.combiners.ToList()
        | "ItemIndex" >> beam.Map(graphs.ItemIndex.of)
    )
    neighbors = user_batches | "ItemGraph" >> graphs.BuildItemGraph(
        data.cooccurrence_window, lengths.neighbors, item_index
    )
    known_counts = None  # TRAIN + VALIDATION counts, for the refit model's scoring graph
    if data.regression_refit:
        known_counts = _item_counts(user_batches, "known_items", ("KnownItems", "KnownItemCounts"))
    scoring, scoring_refit = user_batches | "ScoringGraph" >> graphs.BuildScoringGraph(
        data.regression_l2,
        data.regression_neighbors,
        graphs.budget_items(data.regression_memory_gib, data.regression_max_items),
        item_counts,
        known_counts,
        clock,
        _item_words(read, items) if data.regression_word_weight > 0 else None,
        data.regression_word_weight,
    )
    for label, graph, folder in (
        ("", scoring, paths.SCORING_GRAPH),
        ("Refit", scoring_refit, paths.SCORING_GRAPH_REFIT),
    ):
        if graph is None:  # data.regression_refit is off
            continue
        (
            graph
            | f"ScoringJson{label}" >> beam.Map(lambda kv: json.dumps(kv, ensure_ascii=False))
            | f"WriteScoring{label}"
            >> beam.io.WriteToText(
                paths.join(output_dir, folder, "part"), file_name_suffix=".jsonl", num_shards=1
            )
        )
    friends = _friends(read, timelines, p, lengths.friends)
    joined = (
        # Packed: the join holds every timeline at once (see batches.packed).
        {
            "timelines": timelines | "KeyTimelines" >> beam.Map(lambda t: (t.user, batches.packed(t))),
            "friends": friends,
        }
        | "JoinFriends" >> beam.CoGroupByKey()
        | "WithFriends" >> beam.FlatMap(sequences.with_friends)
    )
    tables = encode.Tables.of(items, users, neighbors)
    examples = joined | "Examples" >> encode.EncodeTimelines(
        contract, tables, lengths.history, data.history_mode
    )
    encoder = lambda features: encode.EncodeExamples(features, tables)
    counts = []
    for name in paths.SPLITS:
        _write_records(examples[name], output_dir, name, shards)
        counts.append(_count(examples[name], f"{name}_examples"))
    latest = joined | "Latest" >> beam.Map(
        lambda tf_: sequences.latest_state(tf_[0], lengths.history, tf_[1])
    )
    _write_records(
        latest | "EncodeUsers" >> encoder(F.select(contract, F.QUERY, F.EVAL)),
        output_dir,
        paths.USERS,
        shards,
    )
    catalog = (
        user_batches
        | "CatalogItems" >> beam.FlatMap(lambda b: {i for t in batches.unpacked(b) for i in t.items})
        | "Distinct" >> beam.Distinct()
    )
    candidates = catalog | "CandidateValues" >> beam.Map(lambda i: {F.ITEM_ID: i})
    _write_records(
        candidates | "EncodeCandidates" >> encoder(F.select(contract, F.CANDIDATE)),
        output_dir,
        paths.CANDIDATES,
        shards,
    )
    text_encoder = text.resolve(data)
    if text_encoder is not None:
        embedded = {"catalog": catalog, "items": items} | "EmbedItemText" >> text.EmbedItemText(
            text_encoder, data.text_fields, clock
        )
        _write_records(embedded, output_dir, paths.ITEM_TEXT, shards)
    tests = timelines | "Evaluated" >> beam.Filter(lambda t: t.test is not None)
    counts += [
        _count(catalog, "catalog_items"),
        _count(timelines, "users"),
        _count(tests, "evaluated_users"),
        timelines
        | "TrainLengths" >> beam.Map(lambda t: len(t.train_items))
        | "TrainCount" >> beam.CombineGlobally(sum)
        | "NameTrainCount" >> beam.Map(lambda n: ("train_interactions", n)),
        tests
        | "TestLines" >> beam.Map(split.fingerprint_line)
        | "AllLines" >> beam.combiners.ToList()
        | "Fingerprint" >> beam.Map(lambda lines: ("test_split_sha256", split.fingerprint(lines))),
        {"item_counts": item_counts, "timelines": timelines, "items": items, "users": users}
        | "Vocabularies" >> vocab.BuildVocabularies(output_dir, data),
        _statistics(timelines, item_counts, friends, neighbors, scoring)
        | "AllDistributions" >> beam.Flatten()
        | "DistributionList" >> beam.combiners.ToList()
        | "Statistics" >> beam.Map(lambda kv: ("statistics", dict(kv))),
    ]
    (
        counts
        | "AllStats" >> beam.Flatten()
        | "StatList" >> beam.combiners.ToList()
        | "StatJson" >> beam.Map(lambda kv: json.dumps(dict(kv), sort_keys=True))
        | "WriteStats" >> beam.io.WriteToText(paths.join(output_dir, "stats.json"), shard_name_template="")
    )


def source_report(result: Any, kinds: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per source: read = valid + dead-lettered, and dead letters by reason."""
    counters = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    report = {}
    for kind in kinds:
        reasons = {
            name.rsplit(".", 1)[1]: n
            for name, n in counters.items()
            if name.startswith(f"{kind}.dead_letter.")
        }
        report[kind] = {
            "read": counters.get(f"{kind}.read", 0),
            "valid": counters.get(f"{kind}.valid", 0),
            "dead_letter": counters.get(f"{kind}.dead_letter", 0),
            "reasons": dict(sorted(reasons.items())),
        }
    return report


def run(
    dataset: DatasetSpec,
    input_dir: str,
    output_dir: str,
    data: msrec_config.DataConfig,
    pipeline_args: Sequence[str] = (),
    shards: int = 0,
    max_bad_fraction: float = 1.0,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Runs the pipeline to completion and writes ``metadata.json`` and ``_SUCCESS``.

    Raises:
      MissingSourceError / EmptySourceError (``preprocessing.errors``): before any work, a
        configured source matches no file or only empty ones; after the run, a source has no row.
      BadSourceError: a source's dead-letter fraction exceeds ``max_bad_fraction``, or no
        interaction is valid. Every error carries the source, its file and, after the run, the report.

    ``show_progress``: print progress lines to stderr as the long steps go (``msrec preprocess``).
    """
    # Absolute: a portable runner's workers need not run in this process's working directory.
    input_dir, output_dir = paths.absolute(input_dir), paths.absolute(output_dir)
    for kind, spec in dataset.sources.items():
        check_source(kind, spec, input_dir)
    timed = "timestamp" in dataset.source("interactions").fields
    data, resolved = auto.resolve_data(data, timed)
    started = time.time()
    clock = progress.Clock(started) if show_progress else None
    p = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    build(p, dataset, input_dir, output_dir, data, shards, clock)
    if clock is not None:
        runner = p.options.view_as(StandardOptions).runner or "DirectRunner"
        clock.say(f"reading {', '.join(dataset.sources)} ({runner})")
    result = p.run()
    result.wait_until_finish()
    if clock is not None:
        clock.say("pipeline finished; writing metadata")
    report = source_report(result, list(dataset.sources))
    with FileSystems.open(paths.join(output_dir, "stats.json")) as f:
        stats = json.loads(f.read().decode("utf-8"))
    metadata = {
        "dataset": dataset.name,
        "input": input_dir,
        "feature_spec_version": F.SPEC_VERSION,
        "features": F.to_dict(F.contract(data.lengths)),
        "data_config": msrec_config.to_dict(data),
        "scoring_graph": {
            "memory_gib": data.regression_memory_gib,
            "max_covered_items": graphs.budget_items(data.regression_memory_gib, data.regression_max_items),
        },
        # What the data is, for the trainer's auto settings (msrec/auto.py).
        "data_profile": {
            "timed": timed,
            "social": dataset.source("social") is not None,
            "resolved": resolved,
        },
        "sources": report,
        "seconds": round(time.time() - started, 1),
        **stats,
    }
    text_encoder = text.resolve(data)
    if text_encoder is not None:
        metadata["text_embedding"] = text.report(result, text_encoder)
    _write_json(paths.join(output_dir, paths.METADATA), metadata)
    _write_statistics(output_dir, metadata)
    files = {kind: resolve(input_dir, spec) for kind, spec in dataset.sources.items()}
    check_report(report, files, max_bad_fraction, paths.join(output_dir, paths.DEAD_LETTER))
    _write_json(paths.join(output_dir, paths.SUCCESS), {"finished": time.time()})
    return metadata


def _write_json(path: str, value: Any) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(value, indent=2, sort_keys=True).encode("utf-8"))


def _write_statistics(output_dir: str, metadata: dict[str, Any]) -> None:
    """``statistics.txt`` and ``statistics.png`` beside the metadata."""
    statistics = metadata.get("statistics", {})
    with FileSystems.create(paths.join(output_dir, "statistics.txt")) as f:
        f.write(stats.report(statistics, metadata).encode("utf-8"))
    if statistics and "://" not in output_dir:  # matplotlib writes local files only
        stats.plot(statistics, paths.join(output_dir, "statistics.png"))
