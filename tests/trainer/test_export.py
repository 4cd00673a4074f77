"""Export on the tiny corpus: layout, signatures, and the TF Serving compatibility gate."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from modelserver import gate
from msrec import config, signatures
from tests.modelserver.tiny_model import save_python_op_model
from tests.trainer.exporting import export_tiny
from trainer import evaluate, export, task
from trainer import warmup_requests as warmup
from trainer.artifacts import load
from trainer.scoring import Ranking


@pytest.fixture(scope="module")
def version_dir(tiny_source, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    task.run(
        config.override(config.Config(), ["train.epochs=1"]), tiny_source, str(root / "model"), verbose=0
    )
    model, _, data = load(str(root / "model"), tiny_source)
    return export_tiny(model, data, root / "base", 3, gate=gate.run)


def test_version_is_an_integer_directory_with_nothing_left_half_written(version_dir):
    base = os.path.dirname(version_dir)
    assert os.listdir(base) == [os.path.basename(version_dir)]
    assert os.path.basename(version_dir).isdigit()
    assert sorted(os.listdir(os.path.join(version_dir, "assets"))) == [
        "category.txt",
        "item_id.txt",
        "tag.txt",
        "token.txt",
        "user_attribute.txt",
        "user_id.txt",
    ]


def test_signatures_have_stable_names_and_batch_dimension(version_dir):
    loaded = tf.saved_model.load(version_dir)
    assert set(signatures.ALL) <= set(loaded.signatures)
    outputs = loaded.signatures["recommend_user"].structured_outputs
    assert set(outputs) == {"item_ids", "scores"}
    assert outputs["item_ids"].shape.as_list() == [None, 3]
    out = loaded.signatures["recommend_user"](user_id=tf.constant(["u1", "never-seen"]))
    # u1 knows i1, i2, i3 (TRAIN + VALIDATION): none of them comes back
    assert not {b"i1", b"i2", b"i3"} & set(out["item_ids"].numpy()[0].tolist())
    assert out["item_ids"].shape == (2, 3)


def test_gate_passes_and_is_recorded_in_the_model_card(version_dir):
    report = gate.check(version_dir)
    assert report == {
        "foreign_ops": [],
        "missing_assets": [],
        "warmup_records": 8,
        "mismatches": [],
        "ok": True,
    }
    card = json.load(open(os.path.join(version_dir, "assets.extra", "model_card.json")))
    assert card["compatibility"]["ok"] is True


def test_gate_catches_a_tampered_warmup_response(version_dir, tmp_path):
    logs = gate.warmup_logs(version_dir)
    scores = logs[0].predict_log.response.outputs["scores"]
    scores.CopyFrom(tf.make_tensor_proto(tf.make_ndarray(scores) + 1.0))
    warmup.write_warmup(version_dir, logs)
    try:
        assert gate.check(version_dir)["mismatches"] == ["warm-up record 0 (serving_default): scores differs"]
    finally:
        logs[0].predict_log.response.outputs["scores"].CopyFrom(
            tf.make_tensor_proto(tf.make_ndarray(scores) - 1.0)
        )
        warmup.write_warmup(version_dir, logs)


def test_gate_refuses_python_ops_tf_serving_does_not_have(tmp_path):
    save_python_op_model(str(tmp_path / "1"))
    assert "EagerPyFunc" in gate.foreign_ops(gate.read_meta_graph(str(tmp_path / "1")))
    with pytest.raises(gate.IncompatibleExport, match="EagerPyFunc"):
        gate.run(str(tmp_path / "1"))


def test_judge_compares_with_most_popular_and_the_published_version():
    from trainer import blessing

    judge = lambda ours, popular, current: blessing.judge(
        {"NDCG@10": ours}, {"NDCG@10": popular}, current and {"NDCG@10": current}, 0.05
    )
    assert judge(0.30, 0.10, None)["blessed"] is True
    assert judge(0.30, 0.10, 0.31)["blessed"] is True  # within 5 % of the published 0.31
    verdict = judge(0.28, 0.10, 0.31)
    assert verdict["blessed"] is False and verdict["reasons"] == [
        "worse than the published version beyond the tolerance"
    ]
    assert judge(0.09, 0.10, None)["reasons"] == ["does not beat MostPopular"]


def test_a_worse_version_is_kept_under_rejected_and_not_published(version_dir, tiny_source, tmp_path):
    import shutil

    from trainer import blessing

    base = tmp_path / "base"
    shutil.copytree(version_dir, base / "1")
    card_path = base / "1" / "assets.extra" / "model_card.json"
    card = json.load(open(card_path))
    card["validation"] = {"NDCG@10": 0.99}  # the published version was excellent
    json.dump(card, open(card_path, "w"))
    model, cfg, data = load(os.path.join(os.path.dirname(os.path.dirname(version_dir)), "model"), tiny_source)
    validation = evaluate.evaluate(model, Ranking.of(cfg.model), data, "validation")
    with pytest.raises(blessing.NotBlessed) as err:
        export_tiny(model, data, base, 3, gate=gate.run, bless=export.Blessing(validation, 0.02))
    assert err.value.comparison["published"] == 0.99
    assert sorted(os.listdir(base)) == ["1", "rejected"]
    (rejected,) = os.listdir(base / "rejected")
    assert (
        json.load(open(base / "rejected" / rejected / "assets.extra" / "model_card.json"))["blessing"][
            "blessed"
        ]
        is False
    )


GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden", "serving_signatures.json")


def signature_metadata(path, k):
    """Each signature's inputs and outputs as (dtype, shape); the baked-in top-K written as "K"."""
    from modelserver.gate import read_meta_graph

    out = {}
    for name, sig in sorted(read_meta_graph(path).signature_def.items()):
        if name.startswith("__"):
            continue
        side = lambda infos: {  # noqa: E731
            alias: [
                tf.dtypes.as_dtype(info.dtype).name,
                ["K" if d.size == k and i == 1 else d.size for i, d in enumerate(info.tensor_shape.dim)],
            ]
            for alias, info in sorted(infos.items())
        }
        out[name] = {"method": sig.method_name, "inputs": side(sig.inputs), "outputs": side(sig.outputs)}
    return out


@pytest.mark.parametrize("dataset", ["synthetic", "movielens-100k", "lastfm-2k"])
def test_serving_signatures_match_the_golden_file(version_dir, dataset):
    """The served contract of every built-in dataset's model; a change here breaks clients."""
    import importlib.resources

    from msrec import features as F

    override = importlib.resources.files("msrec").joinpath("presets", f"{dataset}.model.yaml")
    cfg = config.load(str(override)) if override.is_file() else config.Config()
    # Signatures derive from the feature contract alone; each dataset's resolved contract is the tiny one's.
    assert F.contract(cfg.data.lengths) == F.contract(config.Config().data.lengths)
    golden = json.load(open(GOLDEN))
    assert signature_metadata(version_dir, 3) == golden


def test_unknown_users_get_the_popular_items_and_recent_items_count(version_dir):
    loaded = tf.saved_model.load(version_dir)
    out = loaded.signatures["recommend_user"](user_id=tf.constant(["never-seen"]))
    # TRAIN counts: i1 x3, i2 x2, then i4 and i6 x1 (ties by id); scores are the TRAIN shares
    assert out["item_ids"].numpy().tolist() == [[b"i1", b"i2", b"i4"]]
    np.testing.assert_allclose(out["scores"].numpy(), [[3 / 7, 2 / 7, 1 / 7]], rtol=1e-6)
    recent = np.full((2, 50), "", dtype=object)
    recent[0, 0], recent[1, 0] = "i6", "i1"
    out = loaded.signatures["recommend_user_with_recent"](
        user_id=tf.constant(["u1", "never-seen"]), recent_item_ids=tf.constant(recent)
    )
    ids = out["item_ids"].numpy().tolist()
    assert not {b"i1", b"i2", b"i3", b"i6"} & set(ids[0])  # u1's known items and the new one
    assert b"i1" not in ids[1] and ids[1] != [b"i1", b"i2", b"i4"]  # a model answer, not popularity


@pytest.fixture(scope="module")
def no_sequence_version_dir(tiny_source, tmp_path_factory):
    root = tmp_path_factory.mktemp("export_no_sequence")
    # Without item_graph the scorer adds no graph evidence either: nothing reads the history.
    cfg = config.override(config.Config(), ["train.epochs=1", "model.sources=id,content,profile,social"])
    task.run(cfg, tiny_source, str(root / "model"), verbose=0)
    model, _, data = load(str(root / "model"), tiny_source)
    return export_tiny(model, data, root / "base", 3, gate=gate.run, cfg=cfg)


def test_a_model_that_does_not_read_the_history_ignores_recent_items(no_sequence_version_dir):
    loaded = tf.saved_model.load(no_sequence_version_dir)
    recent = np.full((2, 50), "", dtype=object)
    recent[0, 0], recent[1, 0] = "i1", "i6"
    out = loaded.signatures["recommend_user_with_recent"](
        user_id=tf.constant(["never-seen", "u1"]), recent_item_ids=tf.constant(recent)
    )
    ids = out["item_ids"].numpy().tolist()
    # The model cannot read i1, so the unknown user gets popularity, with i1 itself left out.
    assert ids[0] == [b"i2", b"i4", b"i6"]
    np.testing.assert_allclose(out["scores"].numpy()[0], [2 / 7, 1 / 7, 1 / 7], rtol=1e-6)
    assert not {b"i1", b"i2", b"i3", b"i6"} & set(ids[1])  # u1: a model answer without known and new items


def test_recommend_excluding_drops_the_listed_items(version_dir):
    loaded = tf.saved_model.load(version_dir)
    query = {
        name: tf.constant(
            np.full(
                (1,) + tuple(spec.shape[1:]),
                "" if spec.dtype == tf.string else 0,
                dtype=object if spec.dtype == tf.string else np.float32,
            )
        )
        for name, spec in loaded.signatures["serving_default"].structured_input_signature[1].items()
    }
    query["user_id"] = tf.constant(["u1"])
    plain = loaded.signatures["serving_default"](**query)["item_ids"].numpy()[0].tolist()
    exclude = np.full((1, 50), "", dtype=object)
    exclude[0, :2] = [plain[0].decode(), plain[1].decode()]
    out = loaded.signatures["recommend_excluding"](**query, exclude_item_ids=tf.constant(exclude))
    assert out["item_ids"].numpy()[0].tolist()[0] == plain[2]
    assert not {plain[0], plain[1]} & set(out["item_ids"].numpy()[0].tolist())


def test_predict_examples_answers_what_serving_default_answers(version_dir, tiny_data, tiny_source):
    from msrec import features as F

    features = F.select(tiny_source.contract, F.QUERY)
    files = [os.path.join(tiny_data, "test", f) for f in os.listdir(os.path.join(tiny_data, "test"))]
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    loaded = tf.saved_model.load(version_dir)
    by_examples = loaded.signatures["predict_examples"](examples=tf.constant(serialized))
    batch = F.densify(tf.io.parse_example(serialized, F.parse_spec(features)), features)
    by_features = loaded.signatures["serving_default"](**batch)
    assert by_examples["item_ids"].numpy().tolist() == by_features["item_ids"].numpy().tolist()
    np.testing.assert_allclose(by_examples["scores"].numpy(), by_features["scores"].numpy(), atol=1e-6)
