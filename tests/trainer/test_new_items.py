"""Items nobody has seen, added at export without retraining, come back from recommend_user."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from msrec import config
from msrec import features as F
from msrec import signatures as S
from msrec.datadir import DataDir
from trainer import export, new_items, task
from trainer.artifacts import load, served
from trainer.scoring import Ranking


@pytest.fixture(scope="module")
def trained(tiny_source, tmp_path_factory):
    root = tmp_path_factory.mktemp("new_items")
    cfg = config.override(config.Config(), ["train.epochs=1"])
    task.run(cfg, tiny_source, str(root / "model"), verbose=0)
    return load(str(root / "model"), tiny_source)[0], root


def _export(model, source, base, path, ranking=None):
    """An export of ``model`` with the new items of ``path``, 20 items per list."""
    ranking = ranking or Ranking.of(source.resolve(config.Config())[0].model)
    serving = config.ServingConfig(top_k=20)
    return export.export(model, ranking, serving, served(model, source, str(path)), base)


def test_the_item_text_joins_the_configured_fields_in_order():
    item = {"title": " Alien ", "categories": ["Horror", "Sci-Fi"], "tags": [], "description": ""}
    assert F.item_text(item) == "Alien. Horror, Sci-Fi"
    assert F.item_text(item, ("categories", "title")) == "Horror, Sci-Fi. Alien"


def test_new_items_get_candidate_features_from_what_the_file_gives(trained):
    model, _ = trained
    items = [{"item_id": "n1", "title": "Brand New Thing", "categories": ["c1"], "tags": ["t9", "t1"]}]
    features = new_items.candidate_features(items, model.tables.contract)
    assert features[F.ITEM_ID].tolist() == ["n1"]
    assert features[F.ITEM_TITLE_TOKENS][0][:3].tolist() == ["brand", "new", "thing"]
    assert features[F.ITEM_TAGS][0][:2].tolist() == ["t9", "t1"]
    assert not features[F.ITEM_NEIGHBOR_IDS][0].any()  # nobody has met it: no neighbours


def test_an_export_with_new_items_can_recommend_them(trained, tiny_source):
    model, root = trained
    path = root / "new.jsonl"
    path.write_text(json.dumps({"item_id": "n1", "title": "Brand new", "categories": ["c1"]}) + "\n")
    version = _export(model, tiny_source, str(root / "base"), path)
    loaded = tf.saved_model.load(version)
    out = loaded.signatures[S.RECOMMEND_USER](user_id=tf.constant(["u1"]))
    served = [i.decode() for i in out[S.ITEM_IDS].numpy()[0] if i]
    # 7 catalog items + n1, minus u1's three known ones: n1 is among the five served.
    assert "n1" in served and len(served) == 5
    scores = out[S.SCORES].numpy()[0][: len(served)]
    assert np.isfinite(scores).all()


def test_a_new_item_without_an_id_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"item_id": "ok"}\n{"title": "no id"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: a new item needs an item_id"):
        new_items.read(str(path))


def test_a_new_item_that_reads_like_the_users_history_is_ranked_above_one_that_does_not(trained, tiny_source):
    model, root = trained
    path = root / "two.jsonl"
    like = {"item_id": "n_like", "title": "Amber River night", "categories": ["c1"], "tags": ["t1", "t2"]}
    far = {"item_id": "n_far", "title": "quarterly tax forms", "categories": ["c9"], "tags": ["t7"]}
    path.write_text(json.dumps(like) + "\n" + json.dumps(far) + "\n")
    served = {}
    for weight in (4.0, 0.0):
        ranking = dataclasses.replace(
            Ranking.of(tiny_source.resolve(config.Config())[0].model), cold_weight=weight
        )
        version = _export(model, tiny_source, str(root / f"cold-{weight}"), path, ranking)
        out = tf.saved_model.load(version).signatures[S.RECOMMEND_USER](user_id=tf.constant(["u1"]))
        ids = [i.decode() for i in out[S.ITEM_IDS].numpy()[0] if i]
        served[weight] = dict(zip(ids, out[S.SCORES].numpy()[0][: len(ids)].tolist(), strict=True))
    with_text, without = served[4.0], served[0.0]
    # u1 knows Amber River, amber night, Cold Night: n_like shares its words, n_far none
    assert with_text["n_like"] > with_text["n_far"]
    assert with_text["n_like"] - without["n_like"] > with_text["n_far"] - without["n_far"]
    met = {item for item, count in model.tables.item_counts.items() if count}  # in TRAIN
    assert met & set(with_text)
    for item in met & set(with_text):  # items someone met: the term leaves them alone
        assert with_text[item] == pytest.approx(without[item], abs=1e-5)


def test_a_model_loaded_on_a_rerun_whose_item_text_comes_in_another_order_keeps_each_items_vector(
    trained, tiny_data, tmp_path
):
    import glob
    import shutil

    from msrec import paths

    _, root = trained
    rerun = tmp_path / "rerun"
    shutil.copytree(tiny_data, rerun)
    (shard,) = glob.glob(str(rerun / paths.ITEM_TEXT / "*.tfrecord.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(shard, "GZIP")]
    with tf.io.TFRecordWriter(shard, "GZIP") as writer:
        for record in reversed(records):  # what another shard or worker order gives
            writer.write(record)
    model = load(str(root / "model"), DataDir.open(str(rerun)))[0]
    ids, vectors = model.tables.text_ids, model.tables.text_vectors
    assert ids[0] == load(str(root / "model"))[0].tables.text_ids[-1]  # the order did change
    stored = model.candidate_tower.text.vector_of(tf.constant(ids)).numpy()
    np.testing.assert_array_equal(stored, vectors)
