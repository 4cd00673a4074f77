"""Batch inference on a real tiny export: the Beam job answers exactly what the signatures answer."""

from __future__ import annotations

import glob
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from tensorflow.core.example import example_pb2

from msrec import config, paths, signatures
from msrec import features as F
from msrec.datadir import DataDir
from serving import batch_inference as bi
from serving import batch_io
from tests.trainer.exporting import export_tiny
from trainer import task
from trainer.artifacts import load

USERS = ["u1", "u2", "u3", "u4", "never-seen-user"]
DIRECT = ["--runner=DirectRunner"]


@pytest.fixture(scope="module")
def version_dir(tiny_source, tmp_path_factory) -> str:
    """The tiny corpus trained one epoch and exported with the real serving module and signatures.

    Without the TF Serving gate (a fresh process, tested in tests/trainer/test_export.py), which
    keeps this module inside its time budget.
    """
    root = tmp_path_factory.mktemp("batch_export")
    task.run(
        config.override(config.Config(), ["train.epochs=1"]), tiny_source, str(root / "model"), verbose=0
    )
    model, _, data = load(str(root / "model"), tiny_source)
    return export_tiny(model, data, root / "base", 3)


@pytest.fixture(scope="module")
def loaded(version_dir):
    return tf.saved_model.load(version_dir)


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("users") / "users.txt"
    # two blank lines among the ids: dead letters, not a crash
    path.write_text("u1\nu2\n\n u3 \nu4\n   \nnever-seen-user\n")
    return str(path)


@pytest.fixture(scope="module")
def users_run(version_dir, users_file, tmp_path_factory) -> tuple[dict, str]:
    prefix = str(tmp_path_factory.mktemp("users_out") / "predictions")
    return bi.run(version_dir, users_file, prefix, bi.USERS, batch_io.JSONL, None, DIRECT), prefix


def read_jsonl(pattern: str) -> list[dict]:
    rows = [json.loads(line) for path in sorted(glob.glob(pattern)) for line in open(path)]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def direct(signature, inputs: dict) -> dict[str, tuple[list[str], np.ndarray]]:
    out = signature(**inputs)
    users = [u.decode() for u in inputs[F.USER_ID].numpy()]
    ids, scores = out[signatures.ITEM_IDS].numpy(), out[signatures.SCORES].numpy()
    return {u: ([i.decode() for i in ids[r]], scores[r]) for r, u in enumerate(users)}


def assert_rows_match(rows: list[dict], expected: dict, k: int = 3) -> None:
    assert sorted(r[F.USER_ID] for r in rows) == sorted(expected)
    for row in rows:
        ids, scores = expected[row[F.USER_ID]]
        assert row[signatures.ITEM_IDS] == ids[:k]
        np.testing.assert_allclose(row[signatures.SCORES], scores[:k], atol=1e-5)


def test_users_match_recommend_user_called_directly(users_run, loaded):
    report, prefix = users_run
    expected = direct(loaded.signatures["recommend_user"], {F.USER_ID: tf.constant(USERS)})
    assert_rows_match(read_jsonl(f"{prefix}-00000-of-00001.jsonl"), expected)
    assert len(expected["u1"][0]) == 3


def test_blank_user_lines_are_dead_lettered_and_counted(users_run):
    report, prefix = users_run
    letters = read_jsonl(f"{prefix}-dead_letter-*.jsonl")
    assert [(d["reason"], d["record"].strip()) for d in letters] == [("empty_user_id", "")] * 2
    assert (report["records_in"], report["records_ok"], report["records_bad"]) == (7, 5, 2)
    assert report["records_in"] == report["records_ok"] + report["records_bad"]
    assert report["predictions_written"] == 5 and report["records_bad.empty_user_id"] == 2


def test_success_marker_is_a_manifest_of_the_files(users_run):
    report, prefix = users_run
    marker = json.load(open(os.path.join(os.path.dirname(prefix), paths.SUCCESS)))
    assert marker["files"] == [f"{prefix}-00000-of-00001.jsonl"] == report["files"]
    assert marker["records_ok"] == 5 and marker["k"] == 3
    with pytest.raises(FileExistsError):
        bi.run(report["model"], report["input"], prefix, bi.USERS, batch_io.JSONL, None, DIRECT)


def test_too_many_dead_letters_fail_the_job(users_run):
    report, _ = users_run  # 2 of 7 lines bad
    bi.check_bad_fraction(report, 0.3)
    with pytest.raises(bi.BadInputError, match="fraction 0.286 above 0.1"):
        bi.check_bad_fraction(report, 0.1)


def _bad_and_odd_records(tiny_data) -> tuple[bytes, list[bytes]]:
    """One good example with a 60-item history (truncated to 50) and four bad ones."""
    first = next(iter(tf.data.TFRecordDataset(glob.glob(paths.records_glob(tiny_data, "test")), "GZIP")))
    good = example_pb2.Example.FromString(first.numpy())
    fields = good.features.feature
    fields[F.USER_ID].bytes_list.value[:] = [b"long-history"]
    for name in (F.HISTORY_ITEM_IDS, F.HISTORY_WEIGHTS, F.HISTORY_TIME_GAPS):
        values = getattr(fields[name], fields[name].WhichOneof("kind")).value
        values.extend(list(values) * 20)
    missing, wrong_type, two_ids = (example_pb2.Example() for _ in range(3))
    for bad in (missing, wrong_type, two_ids):
        bad.CopyFrom(good)
    del missing.features.feature[F.HISTORY_ITEM_IDS]
    wrong_type.features.feature[F.HISTORY_WEIGHTS].bytes_list.value.append(b"heavy")
    two_ids.features.feature[F.USER_ID].bytes_list.value.append(b"u2")
    bad = [b"\xff\xff not a proto", missing, wrong_type, two_ids]
    return good.SerializeToString(), [b if isinstance(b, bytes) else b.SerializeToString() for b in bad]


def test_examples_match_serving_default_called_directly(version_dir, loaded, tiny_data, tmp_path):
    test_split = glob.glob(paths.records_glob(tiny_data, "test"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in test_split:  # gzip by suffix, next to an uncompressed file
        tf.io.gfile.copy(path, str(inputs / os.path.basename(path)))
    good, bad = _bad_and_odd_records(tiny_data)
    with tf.io.TFRecordWriter(str(inputs / "extra.tfrecord")) as writer:
        for record in [good, *bad]:
            writer.write(record)
    prefix = str(tmp_path / "out" / "predictions")
    report = bi.run(version_dir, str(inputs / "*"), prefix, bi.EXAMPLES, batch_io.JSONL, None, DIRECT)

    query = F.select(DataDir.open(tiny_data).contract, F.QUERY)  # what the trainer parses with
    records = [r.numpy() for r in tf.data.TFRecordDataset(test_split, "GZIP")] + [good]
    parsed = F.densify(tf.io.parse_example(tf.constant(records), F.parse_spec(query)), query)
    expected = direct(loaded.signatures["serving_default"], parsed)
    assert len(expected) == len(records) == 4
    assert_rows_match(read_jsonl(f"{prefix}-00000-of-00001.jsonl"), expected)
    letters = read_jsonl(f"{prefix}-dead_letter-*.jsonl")
    assert sorted(d["reason"] for d in letters) == [
        "missing_feature",
        "unparseable_example",
        "wrong_length",
        "wrong_type",
    ]
    assert all(set(d["record"]) == {"b64"} for d in letters)
    assert (report["records_in"], report["records_ok"], report["records_bad"]) == (8, 4, 4)


def test_tfrecord_output_round_trips_first_k(version_dir, loaded, users_file, tmp_path):
    prefix = str(tmp_path / "predictions")
    report = bi.run(version_dir, users_file, prefix, bi.USERS, batch_io.TFRECORD, 2, DIRECT, num_shards=2)
    assert report["files"] == [f"{prefix}-0000{i}-of-00002.tfrecord.gz" for i in range(2)]
    rows = [batch_io.from_example(r.numpy()) for r in tf.data.TFRecordDataset(report["files"], "GZIP")]
    expected = direct(loaded.signatures["recommend_user"], {F.USER_ID: tf.constant(USERS)})
    assert_rows_match(rows, expected, k=2)
    assert all(len(r[signatures.ITEM_IDS]) == 2 for r in rows)


def test_k_above_the_exported_top_k_fails_before_the_pipeline_starts(version_dir, users_file, tmp_path):
    with pytest.raises(ValueError, match="exported top-K"):
        bi.run(version_dir, users_file, str(tmp_path / "p"), bi.USERS, batch_io.JSONL, 4, DIRECT)
    assert not list(tmp_path.iterdir())


def test_model_base_resolves_to_the_highest_version_with_a_saved_model(version_dir, tmp_path):
    os.symlink(version_dir, tmp_path / "5")
    (tmp_path / "7").mkdir()  # half-copied: no saved_model.pb
    (tmp_path / ".tmp-9").mkdir()
    assert bi.resolve_version(str(tmp_path)) == str(tmp_path / "5")
    assert bi.resolve_version(version_dir) == version_dir
    with pytest.raises(FileNotFoundError):
        bi.resolve_version(str(tmp_path / "7"))


def test_signature_contract_is_the_trainers_query_contract(loaded, tiny_data):
    specs = loaded.signatures["serving_default"].structured_input_signature[1]
    from_model = batch_io.signature_contract(specs)
    query = F.select(DataDir.open(tiny_data).contract, F.QUERY)
    assert F.tensor_specs(from_model) == F.tensor_specs(query)
    assert F.parse_spec(from_model) == F.parse_spec(query)


def test_handler_answers_a_batch_of_five_users_in_order(version_dir, loaded):
    info = bi.ModelInfo(version_dir, bi.RECOMMEND_USER, features=(), top_k=3)
    handler = bi.SavedModelHandler(info, k=3, min_batch_size=5, max_batch_size=5)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 5, "max_batch_size": 5}
    results = handler.run_inference(USERS, loaded)
    expected = direct(loaded.signatures["recommend_user"], {F.USER_ID: tf.constant(USERS)})
    assert [r.example for r in results] == USERS
    assert [r.inference[signatures.ITEM_IDS] for r in results] == [expected[u][0] for u in USERS]

    with TestPipeline() as p:
        ids = (
            p
            | beam.Create(USERS)
            | RunInference(handler)
            | beam.Map(lambda r: (r.example, r.inference[signatures.ITEM_IDS]))
        )
        assert_that(ids, equal_to([(u, expected[u][0]) for u in USERS]))


class _FailsOnBoom(ModelHandler):
    """A model that cannot answer the request ``boom``; one example a batch."""

    def __init__(self):
        super().__init__(min_batch_size=1, max_batch_size=1)

    def load_model(self):
        return None

    def run_inference(self, batch, model, inference_args=None):
        if "boom" in batch:
            raise RuntimeError("model exploded")
        return [
            PredictionResult(x, {signatures.ITEM_IDS: [x.upper()], signatures.SCORES: [1.0]}) for x in batch
        ]


def test_failed_inference_batches_are_dead_lettered():
    with TestPipeline() as p:
        out = p | beam.Create([("a", "a"), ("boom", "boom"), ("b", "b")]) | bi.Predict(_FailsOnBoom())
        ok = out["ok"] | "Ids" >> beam.MapTuple(lambda u, pred: (u, pred[signatures.ITEM_IDS]))
        assert_that(ok, equal_to([("a", ["A"]), ("b", ["B"])]), label="Ok")
        bad = out["bad"] | "Reasons" >> beam.Map(
            lambda d: (d["reason"], d["record"], "exploded" in d["detail"])
        )
        assert_that(bad, equal_to([("inference_failed", "boom", True)]), label="Bad")


def test_decoders_name_the_reason():
    assert batch_io.decode_user_line(" u1\r") == ("u1", "u1")
    with pytest.raises(batch_io.BadRecord, match="empty_user_id"):
        batch_io.decode_user_line("  ")
    scalar = (F.Feature(F.USER_ID, F.STRING, F.SCALAR, F.QUERY),)
    empty = example_pb2.Example()
    empty.features.feature[F.USER_ID].bytes_list.SetInParent()
    with pytest.raises(batch_io.BadRecord, match="wrong_length: user_id has 0 values"):
        batch_io.check_example(empty.SerializeToString(), scalar)


def test_multi_processing_runner_gives_the_same_rows(users_run, users_file, loaded, tmp_path):
    report, _ = users_run
    other = str(tmp_path / "predictions")
    argv = ["--model", os.path.dirname(report["model"]), "--input", users_file, "--output", other]
    assert bi.main(argv + ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]) == 0
    expected = direct(loaded.signatures["recommend_user"], {F.USER_ID: tf.constant(USERS)})
    assert_rows_match(read_jsonl(f"{other}-00000-of-00001.jsonl"), expected)
    assert len(read_jsonl(f"{other}-dead_letter-*.jsonl")) == 2


@pytest.mark.slow
def test_prism_runner_gives_the_same_rows_and_counters(users_run, users_file, loaded, prism_flags, tmp_path):
    report, _ = users_run
    other = str(tmp_path / "predictions")
    on_prism = bi.run(os.path.dirname(report["model"]), users_file, other, pipeline_args=prism_flags)
    counters = [k for k in report if k.startswith("records")]  # in, ok, bad and bad.<reason>
    assert len(counters) == 4 and {k: on_prism[k] for k in counters} == {k: report[k] for k in counters}
    expected = direct(loaded.signatures["recommend_user"], {F.USER_ID: tf.constant(USERS)})
    assert_rows_match(read_jsonl(f"{other}-00000-of-00001.jsonl"), expected)
    assert read_jsonl(f"{other}-dead_letter-*.jsonl") == read_jsonl(f"{report['output']}-dead_letter-*.jsonl")
