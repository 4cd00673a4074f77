"""Items nobody has seen, added at export without retraining, come back from recommend_user."""

import json

import numpy as np
import pytest
import tensorflow as tf

from msrec import config
from msrec import features as F
from msrec import signatures as S
from trainer import export, new_items, task
from trainer.artifacts import load


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("new_items")
    task.run(config.override(config.Config(), ["train.epochs=1"]), tiny_data, str(root / "model"), verbose=0)
    return load(str(root / "model"))[0], root


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


def test_an_export_with_new_items_can_recommend_them(trained, tiny_data):
    model, root = trained
    path = root / "new.jsonl"
    path.write_text(json.dumps({"item_id": "n1", "title": "Brand new", "categories": ["c1"]}) + "\n")
    version = export.export(model, tiny_data, str(root / "base"), k=20, new_items=str(path))
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
