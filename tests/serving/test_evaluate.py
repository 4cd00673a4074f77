"""What is served is what is measured: an export asked through its signatures, on the tiny corpus.

The data is preprocessed with a stored history of one event, so every user knows more items
than the model's user table holds in its history: exclusion must still drop all of them.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from msrec import config
from msrec import features as F
from msrec import signatures as S
from msrec import source_config as sources
from msrec.datadir import DataDir
from preprocessing import pipeline
from serving import evaluate as served
from tests.trainer.exporting import export_tiny
from trainer import artifacts, evaluate, export, task
from trainer.artifacts import load
from trainer.scoring import Ranking

KNOWN = {
    "u1": {"i1", "i2", "i3"},
    "u2": {"i2", "i3"},
    "u4": {"i4", "i1", "i2"},
    "u3": {"i1", "i6"},
}  # u3 has two events: both TRAIN


@pytest.fixture(scope="module")
def short_history(tiny_raw, tmp_path_factory):
    root = tmp_path_factory.mktemp("short_history")
    cfg = config.override(config.Config(), ["data.lengths.history=1", "train.epochs=1"])
    pipeline.run(sources.preset("synthetic"), tiny_raw, str(root / "data"), cfg.data, shards=1)
    source = DataDir.open(str(root / "data"))
    task.run(cfg, source, str(root / "model"), verbose=0)
    model, _, data = load(str(root / "model"), source)
    # k above the catalog's 7 items: each list holds every item the user does not know.
    return model, data, export_tiny(model, data, root / "base", 20)


def test_every_known_item_is_excluded_though_the_stored_history_holds_one(short_history):
    _, data_dir, version = short_history
    loaded = tf.saved_model.load(version)
    users = sorted(KNOWN)
    stored = loaded.signatures[S.RECOMMEND_USER].structured_input_signature  # only user_id goes in
    assert list(stored[1]) == [F.USER_ID]
    out = loaded.signatures[S.RECOMMEND_USER](user_id=tf.constant(users))
    for user, row, scores in zip(users, out[S.ITEM_IDS].numpy(), out[S.SCORES].numpy(), strict=True):
        served_items = {i.decode() for i in row if i}
        assert served_items and not served_items & KNOWN[user], user
        # The catalog minus the known items, then empty slots (scored -inf) rather than known ones.
        assert len(served_items) == 7 - len(KNOWN[user])
        assert np.isinf(scores[len(served_items) :]).all()


def test_evaluating_the_export_equals_evaluating_the_model_in_process(short_history):
    model, data, version = short_history
    in_process = evaluate.evaluate(model, Ranking.of(data.resolve(config.Config())[0].model), data, "test")[
        "model"
    ]
    through_export = served.evaluate(version, evaluate.held_out(data, "test"))
    assert through_export["known_items_returned"] == 0
    assert through_export["num_users"] == in_process["num_users"] == 3
    for key in ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR", "F1@10"):
        assert through_export[key] == pytest.approx(in_process[key], abs=1e-6), key


def test_a_request_above_the_row_cap_is_refused_and_the_next_one_answered(short_history, tmp_path):
    model, data, _ = short_history
    served_ = artifacts.served(model, data)
    capped = config.ServingConfig(top_k=3, max_request_rows=2)
    version = export.export(
        model, Ranking.of(data.resolve(config.Config())[0].model), capped, served_, str(tmp_path / "capped")
    )
    recommend = served.SessionSignature(version, S.RECOMMEND_USER)  # as TF Serving runs it
    try:
        with pytest.raises(tf.errors.InvalidArgumentError, match="at most 2 rows"):
            recommend(user_id=np.array([b"u1", b"u2", b"u3"], dtype=object))
        out = recommend(user_id=np.array([b"u1", b"u2"], dtype=object))
        assert out[S.ITEM_IDS].shape == (2, 3)
        assert not {i.decode() for i in out[S.ITEM_IDS][0]} & KNOWN["u1"]
    finally:
        recommend.close()
