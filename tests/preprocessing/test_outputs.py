"""WriteOutputs: the record folders, the scoring graph, the vocabularies and stats.json."""

import glob
import json
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline

from msrec import config, paths
from msrec import features as F
from preprocessing import split
from preprocessing.outputs import WriteOutputs
from preprocessing.records import Interaction, Item, User


def timeline(user, items):
    return split.split_user(user, [Interaction(user, i, t, str(t), 1.0) for t, i in enumerate(items)])


def test_write_outputs_writes_every_file_the_driver_and_the_trainer_read(tmp_path):
    out = str(tmp_path)
    timelines = [timeline("u1", ["a", "b", "c", "d"]), timeline("u2", ["a"])]  # u1: TRAIN a b, c, d
    records = {"train": [b"t1", b"t2", b"t3"], "validation": [b"v1"], "test": [b"e1"]}
    records.update(users=[b"u1", b"u2"], candidates=[b"a", b"b", b"c", b"d"])
    with TestPipeline() as p:
        graphs = {
            "item_counts": p | "Counts" >> beam.Create([("a", 2), ("b", 1)]),
            "item_graph": p | "ItemGraph" >> beam.Create([("a", [("b", 0.7)]), ("b", [("a", 0.7)])]),
            "social_graph": p | "Friends" >> beam.Create([]),
            "scoring_graph": p | "Scoring" >> beam.Create([("b", [("a", 0.25)])]),
        }
        inputs = {
            "records": {name: p | f"Records_{name}" >> beam.Create(rows) for name, rows in records.items()},
            "graphs": graphs,
            "timelines": p | "Timelines" >> beam.Create(timelines),
            "items": p | "Items" >> beam.Create([("a", Item("a", ("rock",), (), ("alpha",)))]),
            "users": p | "Users" >> beam.Create([("u1", User("u1", ("age=20",)))]),
        }
        inputs | WriteOutputs(out, config.DataConfig(), shards=1)
    for name, rows in records.items():
        files = glob.glob(os.path.join(out, name, "*.tfrecord.gz"))
        assert sorted(r.numpy() for r in tf.data.TFRecordDataset(files, "GZIP")) == rows, name
    (scoring,) = glob.glob(os.path.join(out, paths.SCORING_GRAPH, "*.jsonl"))
    assert [json.loads(line) for line in open(scoring)] == [["b", [["a", 0.25]]]]
    assert not os.path.exists(os.path.join(out, paths.SCORING_GRAPH_REFIT))
    assert open(paths.vocab_file(out, F.ITEM_VOCAB)).read().split() == ["a", "b"]
    assert open(paths.item_counts_file(out)).read().split() == ["2", "1"]
    assert open(paths.vocab_file(out, F.CATEGORY_VOCAB)).read().split() == ["rock"]
    stats = json.load(open(os.path.join(out, "stats.json")))
    counts = {"train_examples": 3, "validation_examples": 1, "test_examples": 1, "catalog_items": 4}
    counts.update(users=2, evaluated_users=1, train_interactions=3)
    assert {k: stats[k] for k in counts} == counts
    assert stats["test_split_sha256"] == split.fingerprint(["u1\td\t3\n"])
    assert stats["vocabulary_sizes"][F.ITEM_VOCAB] == 2 and stats["vocabulary_sizes"][F.USER_VOCAB] == 2
    assert stats["statistics"]["train_interactions_per_user"]["max"] == 2
    assert stats["statistics"]["scoring_graph_sources"]["count"] == 1
