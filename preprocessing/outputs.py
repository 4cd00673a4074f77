"""The pipeline's last step: every output file but ``metadata.json``, which the driver writes after the run.

records (encode.EncodeRecords) -> <folder>/part-*.tfrecord.gz
scoring graphs (graphs.BuildGraphs) -> scoring_graph/, scoring_graph_refit/ (JSON lines)
TRAIN counts, users, items -> vocab/, item_counts.txt (vocab.BuildVocabularies)
counts, the test-split fingerprint, distributions, vocabulary sizes -> stats.json
"""

from __future__ import annotations

import json

import apache_beam as beam

from msrec import paths
from msrec.config import DataConfig
from preprocessing import split, stats
from preprocessing.vocab import BuildVocabularies

SCORING_GRAPHS = (  # (label suffix, BuildGraphs output, folder)
    ("", "scoring_graph", paths.SCORING_GRAPH),
    ("Refit", "scoring_graph_refit", paths.SCORING_GRAPH_REFIT),
)


def _write_records(pcoll, output_dir: str, name: str, shards: int) -> None:
    """``shards`` 0: the runner decides and each bundle streams to its file; a fixed count first
    shuffles every record to its shard, which holds a whole output in memory on the DirectRunner."""
    pcoll | f"Write_{name}" >> beam.io.WriteToTFRecord(
        paths.records_prefix(output_dir, name), file_name_suffix=paths.TFRECORD_SUFFIX, num_shards=shards
    )


def _write_scoring_graphs(graphs: dict, output_dir: str) -> None:
    for label, key, folder in SCORING_GRAPHS:
        if key not in graphs:  # data.regression_refit is off
            continue
        (
            graphs[key]
            | f"ScoringJson{label}" >> beam.Map(lambda kv: json.dumps(kv, ensure_ascii=False))
            | f"WriteScoring{label}"
            >> beam.io.WriteToText(
                paths.join(output_dir, folder, "part"), file_name_suffix=".jsonl", num_shards=1
            )
        )


def _count(pcoll, name: str):
    return (
        pcoll
        | f"Count_{name}" >> beam.combiners.Count.Globally()
        | f"Name_{name}" >> beam.Map(lambda n: (name, n))
    )


def _counts(records: dict, timelines) -> list:
    """``(name, value)`` PCollections: examples per split, catalog items, users, TRAIN interactions and
    the test split's fingerprint (``split.fingerprint``)."""
    tests = timelines | "Evaluated" >> beam.Filter(lambda t: t.test is not None)
    return [
        *(_count(records[name], f"{name}_examples") for name in paths.SPLITS),
        _count(records[paths.CANDIDATES], "catalog_items"),  # one candidate per catalog item
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
    ]


def _statistics(timelines, graphs: dict):
    """``("statistics", {name: histogram})`` of the distributions worth a look before training."""
    distributions = [
        timelines
        | "UserLengths" >> beam.Map(lambda t: len(t.train_items))
        | "TrainPerUser" >> stats.Distribution("train_interactions_per_user"),
        graphs["item_counts"]
        | "ItemPop" >> beam.Map(lambda kv: kv[1])
        | "TrainPerItem" >> stats.Distribution("train_interactions_per_item"),
        graphs["social_graph"]
        | "Degrees" >> beam.Map(lambda kv: len(kv[1]))
        | "FriendsPerUser" >> stats.Distribution("friends_per_user_with_friends"),
        graphs["item_graph"]
        | "NeighborCount" >> beam.Map(lambda kv: len(kv[1]))
        | "ItemNeighbors" >> stats.Distribution("item_graph_neighbors"),
        graphs["scoring_graph"]
        | "ScoringSources" >> beam.Map(lambda kv: len(kv[1]))
        | "ScoringNeighbors" >> stats.Distribution("scoring_graph_sources"),
    ]
    return (
        distributions
        | "AllDistributions" >> beam.Flatten()
        | "DistributionList" >> beam.combiners.ToList()
        | "Statistics" >> beam.Map(lambda kv: ("statistics", dict(kv)))
    )


class WriteOutputs(beam.PTransform):
    """Writes the records, the scoring graphs, the vocabularies and ``stats.json``.

    Input: ``{"records": folder -> serialized tf.Examples (encode.EncodeRecords), "graphs":
    graphs.BuildGraphs' output, "timelines", "items", "users"}`` (the last two from
    ``content.JoinContent``). Output: the name of ``stats.json``, the counts, vocabulary sizes and
    statistics the driver turns into ``metadata.json``.
    """

    def __init__(self, output_dir: str, data: DataConfig, shards: int = 0):
        """``shards``: files per record folder; 0 lets the runner decide (see ``_write_records``)."""
        super().__init__()
        self._dir, self._data, self._shards = output_dir, data, shards

    def expand(self, inputs):
        records, graphs, timelines = inputs["records"], inputs["graphs"], inputs["timelines"]
        for name, encoded in records.items():
            _write_records(encoded, self._dir, name, self._shards)
        _write_scoring_graphs(graphs, self._dir)
        content = {"item_counts": graphs["item_counts"], "timelines": timelines}
        content.update(items=inputs["items"], users=inputs["users"])
        vocabularies = content | "Vocabularies" >> BuildVocabularies(self._dir, self._data)
        return (
            [*_counts(records, timelines), vocabularies, _statistics(timelines, graphs)]
            | "AllStats" >> beam.Flatten()
            | "StatList" >> beam.combiners.ToList()
            | "StatJson" >> beam.Map(lambda kv: json.dumps(dict(kv), sort_keys=True))
            | "WriteStats" >> beam.io.WriteToText(paths.join(self._dir, "stats.json"), shard_name_template="")
        )
