"""The whole Beam pipeline on the tiny corpus: outputs, fingerprint, and no TEST leakage.

In ``tests/testdata/tiny``, item ``i9`` (user u4) and ``i5`` (user u2) occur only as
TEST interactions, and ``i3`` only as VALIDATION (u1, u2) or a merged duplicate.
"""

import glob
import hashlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from msrec import config, paths
from msrec import features as F
from msrec import source_config as sources
from preprocessing import pipeline

TEST_ONLY = {"i9", "i5"}


def records(data_dir, name):
    contract = F.contract()
    files = glob.glob(os.path.join(data_dir, name, "*.tfrecord.gz"))
    out = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(raw.numpy())
        out.append(
            {
                f.name: [
                    v.decode() if isinstance(v, bytes) else v
                    for v in getattr(
                        example.features.feature[f.name],
                        {"string": "bytes_list", "float32": "float_list", "int64": "int64_list"}[f.dtype],
                    ).value
                ]
                for f in contract
                if f.name in example.features.feature
            }
        )
    return out


def test_metadata_counts_and_fingerprint(tiny_data):
    meta = json.load(open(os.path.join(tiny_data, paths.METADATA)))
    lines = sorted(["u1\ti4\t400\n", "u2\ti5\t150\n", "u4\ti9\t80\n"])
    assert meta["test_split_sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert (meta["users"], meta["evaluated_users"], meta["catalog_items"]) == (4, 3, 7)
    assert (meta["train_examples"], meta["validation_examples"], meta["test_examples"]) == (7, 3, 3)
    assert meta["sources"]["interactions"] == {"read": 14, "valid": 14, "dead_letter": 0, "reasons": {}}
    assert os.path.exists(os.path.join(tiny_data, paths.SUCCESS))


def test_vocabularies_are_counted_on_train_only(tiny_data):
    vocab = lambda name: open(paths.vocab_file(tiny_data, name)).read().split()
    assert vocab(F.ITEM_VOCAB) == ["i1", "i2", "i4", "i6"]  # i1 x3, i2 x2, then ties by id
    assert open(paths.item_counts_file(tiny_data)).read().split() == ["3", "2", "1", "1"]
    assert "c4" not in vocab(F.CATEGORY_VOCAB) and "t9" not in vocab(F.TAG_VOCAB)  # i9's content
    assert "sentinel" not in vocab(F.TOKEN_VOCAB)


def test_no_test_interaction_reaches_any_feature(tiny_data):
    for name in ("train", "validation", "test", paths.USERS):
        for ex in records(tiny_data, name):
            assert not TEST_ONLY & set(ex.get(F.HISTORY_ITEM_IDS, [])), (name, ex)
            assert not TEST_ONLY & set(ex.get(F.SEEN_ITEM_IDS, [])), (name, ex)
            if name != "test":
                assert not TEST_ONLY & set(ex.get(F.ITEM_ID, [])), (name, ex)
    targets = {ex[F.USER_ID][0]: ex[F.ITEM_ID][0] for ex in records(tiny_data, "test")}
    assert targets == {"u1": "i4", "u2": "i5", "u4": "i9"}


def test_candidates_are_the_whole_catalog_with_content(tiny_data):
    cands = {c[F.ITEM_ID][0]: c for c in records(tiny_data, paths.CANDIDATES)}
    assert set(cands) == {"i1", "i2", "i3", "i4", "i5", "i6", "i9"}
    assert cands["i2"][F.ITEM_CATEGORIES] == ["c1", "c2"]
    assert cands["i1"][F.ITEM_TITLE_TOKENS] == ["amber", "river"]


def test_examples_carry_profile_and_target_content(tiny_data):
    (u1_test,) = [e for e in records(tiny_data, "test") if e[F.USER_ID] == ["u1"]]
    assert u1_test[F.USER_ATTRIBUTES] == ["age_group=18-24", "gender=f", "country=c1"]
    assert u1_test[F.ITEM_CATEGORIES] == ["c3"]  # i4's category
    assert u1_test[F.HISTORY_ITEM_IDS] == ["i3", "i2", "i1"]


def test_bad_rows_are_dead_lettered_with_file_line_and_reason(tmp_path, tiny_raw):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in os.listdir(tiny_raw):
        (raw / name).write_bytes((open(os.path.join(tiny_raw, name), "rb")).read())
    with open(raw / "interactions.csv", "ab") as f:
        f.write(b"u1,i7,notatime,1\nu1,,500,1\nu\xff\xfe,i1,5,1\n")
    meta = pipeline.run(
        sources.preset("synthetic"), str(raw), str(tmp_path / "out"), config.DataConfig(), shards=1
    )
    report = meta["sources"]["interactions"]
    assert report["read"] == report["valid"] + report["dead_letter"] == 17
    assert report["reasons"] == {"bad_encoding": 1, "bad_timestamp": 1, "empty_id": 1}
    letters = [
        json.loads(line)
        for p in glob.glob(str(tmp_path / "out" / "dead_letter" / "*.jsonl"))
        for line in open(p)
    ]
    by_line = {d["line"]: d for d in letters}
    assert by_line[16]["reason"] == "bad_timestamp" and by_line[16]["raw"] == "u1,i7,notatime,1"
    assert by_line[16]["file"].endswith("interactions.csv") and by_line[16]["source"] == "interactions"


def test_too_many_bad_rows_fail_the_run_without_success_marker(tmp_path, tiny_raw):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "interactions.csv").write_text("user_id,item_id,timestamp,weight\nu1,i1,1,1\nu1,i2,x,1\n")
    dataset = sources.from_dict(
        {
            "name": "t",
            "sources": {
                "interactions": {
                    "path": "interactions.csv",
                    "header": True,
                    "fields": {
                        "user_id": "user_id",
                        "item_id": "item_id",
                        "timestamp": "timestamp",
                        "weight": "weight",
                    },
                }
            },
        }
    )
    with pytest.raises(pipeline.BadSourceError, match="interactions"):
        pipeline.run(dataset, str(raw), str(tmp_path / "out"), config.DataConfig(), max_bad_fraction=0.1)
    assert not os.path.exists(tmp_path / "out" / paths.SUCCESS)


def test_missing_source_fails_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="interactions"):
        pipeline.run(sources.preset("synthetic"), str(tmp_path), str(tmp_path / "out"), config.DataConfig())


def test_friends_rank_by_shared_train_items(tiny_data):
    users = {u[F.USER_ID][0]: u for u in records(tiny_data, paths.USERS)}
    # u2 shares i2 with u1 (both TRAIN) and nothing with u4: strength 1 + shared
    assert users["u2"][F.FRIEND_IDS] == ["u1", "u4"]
    assert users["u2"][F.FRIEND_WEIGHTS] == [2.0, 1.0]
    assert users["u3"][F.FRIEND_IDS] == []  # no friends: an empty list, not a crash


def test_item_graph_is_cosine_over_train_windows(tiny_data):
    cands = {c[F.ITEM_ID][0]: c for c in records(tiny_data, paths.CANDIDATES)}
    # i1 co-occurs once each with i2 (u1), i6 (u3), i4 (u4); n(i1)=3, n(i2)=2, n(i4)=n(i6)=1
    assert cands["i1"][F.ITEM_NEIGHBOR_IDS] == ["i4", "i6", "i2"]
    assert cands["i1"][F.ITEM_NEIGHBOR_WEIGHTS] == pytest.approx([3**-0.5, 3**-0.5, 6**-0.5])
    assert cands["i9"][F.ITEM_NEIGHBOR_IDS] == []  # TEST-only items are in no graph


def test_statistics_summary_and_plot(tiny_data):
    meta = json.load(open(os.path.join(tiny_data, paths.METADATA)))
    per_user = meta["statistics"]["train_interactions_per_user"]
    assert (per_user["count"], per_user["min"], per_user["max"], per_user["mean"]) == (4, 1, 2, 1.75)
    assert per_user["buckets"] == {"1": 1, "2-3": 3}
    assert "density 0.25000" in open(os.path.join(tiny_data, "statistics.txt")).read()
    assert open(os.path.join(tiny_data, "statistics.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_new_dataset_is_onboarded_by_config_alone(tmp_path):
    """docs/sources.md's worked example: TSV with ISO times and a ';' catalog with ',' lists."""
    shop = os.path.join(os.path.dirname(__file__), "..", "testdata", "shop")
    dataset = sources.load(os.path.join(shop, "shop.yaml"))
    meta = pipeline.run(dataset, shop, str(tmp_path / "out"), config.DataConfig(), shards=1)
    report = meta["sources"]["interactions"]
    assert (report["read"], report["valid"], report["reasons"]) == (
        10,
        8,
        {"bad_weight": 1, "missing_columns": 1},
    )
    assert (meta["users"], meta["evaluated_users"], meta["catalog_items"]) == (3, 2, 5)
    # m1: p1 p2 | p3 (validation) | p4 (test); m2: p2 | p3 | p5; m3: p1 only (TRAIN)
    assert open(paths.vocab_file(str(tmp_path / "out"), F.ITEM_VOCAB)).read().split() == ["p1", "p2"]
    assert open(paths.vocab_file(str(tmp_path / "out"), F.CATEGORY_VOCAB)).read().split() == [
        "kitchen",
        "home",
    ]


def test_parquet_sources_read_by_column_name_with_dead_letters(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = tmp_path / "raw"
    raw.mkdir()
    table = pa.table(
        {
            "uid": ["a", "a", "a", "b", "", "b"],
            "iid": ["x", "y", "z", "x", "y", "w"],
            "ts": [1, 2, 3, 1, 2, None],
            "qty": [1.0, 2.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    pq.write_table(table, raw / "events.parquet")
    dataset = sources.from_dict(
        {
            "name": "pq",
            "sources": {
                "interactions": {
                    "path": "*.parquet",
                    "format": "parquet",
                    "fields": {"user_id": "uid", "item_id": "iid", "timestamp": "ts", "weight": "qty"},
                }
            },
        }
    )
    meta = pipeline.run(dataset, str(raw), str(tmp_path / "out"), config.DataConfig(), shards=1)
    report = meta["sources"]["interactions"]
    assert (report["read"], report["valid"], report["reasons"]) == (6, 4, {"bad_timestamp": 1, "empty_id": 1})
    assert (meta["evaluated_users"], meta["catalog_items"]) == (1, 3)
    letters = [
        json.loads(line)
        for p in glob.glob(str(tmp_path / "out" / "dead_letter" / "*.jsonl"))
        for line in open(p)
    ]
    assert sorted(d["line"] for d in letters) == [5, 6]


def _graph(root: str, folder: str = paths.SCORING_GRAPH) -> dict:
    return dict(json.loads(line) for line in open(glob.glob(f"{root}/{folder}/*.jsonl")[0]))


def _item_words(tiny_raw: str) -> list[list[str]]:
    """Per category and tag of the tiny items, the items it labels."""
    words: dict[str, list[str]] = {}
    for line in open(os.path.join(tiny_raw, "items.jsonl")):
        item = json.loads(line)
        for kind in ("categories", "tags"):
            for word in item[kind]:
                words.setdefault(f"{kind}:{word}", []).append(item["item_id"])
    return list(words.values())


def _assert_same_graph(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for item, edges in expected.items():
        assert [s for s, _ in actual[item]] == [s for s, _ in edges]
        np.testing.assert_allclose([w for _, w in actual[item]], [w for _, w in edges], rtol=1e-5)


def test_the_scoring_graph_is_the_regression_over_train_sets_and_item_words(tiny_raw, tiny_data):
    from preprocessing import scoring_graph

    graph = _graph(tiny_data)
    # TRAIN sets {i1, i2}, {i2}, {i1, i6}, {i1, i4} over the TRAIN items by count (i1: 3, i2: 2, i4, i6: 1),
    # and the words on two or more of them as rows of weight 1: c1 {i1, i2, i6}, t2 {i1, i2}.
    names, sets = ["i1", "i2", "i4", "i6"], [[0, 1], [1], [0, 3], [0, 2]]
    words = scoring_graph.covered(_item_words(tiny_raw), names)
    assert sorted(map(list, words)) == [[0, 1], [0, 1, 3]]
    data = config.DataConfig()
    expected = scoring_graph.regression(
        sets, names, data.regression_l2, data.regression_neighbors, words=words, word_weight=1.0
    )
    _assert_same_graph(graph, dict(expected))
    # No user has both i2 and i6; their shared category c1 makes i6 speak for i2.
    assert dict(graph["i2"])["i6"] > 0
    # TEST-only and VALIDATION-only items appear nowhere.
    assert set(graph) | {s for sources in graph.values() for s, _ in sources} == set(names)


def test_the_refit_scoring_graph_is_the_regression_over_train_and_validation(tiny_raw, tiny_data):
    from preprocessing import scoring_graph

    refit = _graph(tiny_data, paths.SCORING_GRAPH_REFIT)
    # TRAIN + VALIDATION sets {i1, i2, i3}, {i2, i3}, {i1, i6}, {i1, i2, i4} over the items by count
    # (i1, i2: 3; i3: 2; i4, i6: 1): the VALIDATION-only i3 joins; TEST-only i5 and i9 still do not.
    names = ["i1", "i2", "i3", "i4", "i6"]
    sets = [[0, 1, 2], [1, 2], [0, 4], [0, 1, 3]]
    data = config.DataConfig()
    words = scoring_graph.covered(_item_words(tiny_raw), names)  # c2 {i2, i3} now links two covered items
    expected = scoring_graph.regression(
        sets, names, data.regression_l2, data.regression_neighbors, words=words, word_weight=1.0
    )
    _assert_same_graph(refit, dict(expected))
    assert [s for s, w in refit["i3"] if w > 0][0] == "i2"  # its partner in two sets, strongest
    assert "i3" not in _graph(tiny_data)


def test_behaviour_alone_without_item_words_and_only_the_train_graph_without_refit(tiny_raw, tmp_path):
    out = tmp_path / "out"
    data = config.DataConfig(regression_refit=False, regression_word_weight=0.0)
    pipeline.run(sources.preset("synthetic"), tiny_raw, str(out), data, shards=1)
    assert not (out / paths.SCORING_GRAPH_REFIT).exists()
    graph = _graph(str(out))
    # TRAIN sets {i1, i2}, {i2}, {i1, i6}, {i1, i4}: i1 is predicted by each of its partners,
    # and each partner by i1 alone (the other partners, which come instead, speak against it).
    positive = lambda item: sorted(s for s, w in graph[item] if w > 0)
    assert positive("i1") == ["i2", "i4", "i6"]
    assert positive("i2") == positive("i4") == positive("i6") == ["i1"]
    assert sorted(s for s, w in graph["i4"] if w < 0) == ["i2", "i6"]
