"""The bad-input corpus (tests/testdata/bad): every bad row is dead-lettered with its reason,
every good row survives, and for every source read = valid + dead-lettered."""

import glob
import json
import os

import pytest

from msrec import config, paths
from msrec import features as F
from msrec import source_config as sources
from preprocessing import pipeline
from tests.preprocessing.test_pipeline import records

CORPUS = os.path.join(os.path.dirname(__file__), "..", "testdata", "bad")
# (source, line) -> reason: twenty-four differently malformed rows, thirteen reasons.
EXPECTED = {
    ("interactions", 7): "missing_columns",  # u2,i2
    ("interactions", 8): "extra_columns",  # a fifth column
    ("interactions", 9): "empty_id",  # no user
    ("interactions", 10): "empty_id",  # no item
    ("interactions", 11): "bad_timestamp",  # "last tuesday"
    ("interactions", 12): "bad_weight",  # "lots"
    ("interactions", 13): "bad_weight",  # nan
    ("interactions", 14): "bad_weight",  # -inf
    ("interactions", 15): "bad_encoding",  # bytes that are not UTF-8
    ("interactions", 17): "bad_timestamp",  # 30 February
    ("interactions", 19): "duplicate",  # the same text as line 3
    ("items", 4): "bad_json",  # truncated object
    ("items", 5): "bad_json",  # an array, not an object
    ("items", 6): "missing_field",  # no item_id
    ("items", 7): "empty_id",
    ("users", 3): "missing_columns",
    ("users", 5): "bad_number",  # age "old" cannot be bucketised
    ("social", 3): "self_edge",
    ("social", 4): "empty_id",  # no friend
    ("social", 6): "unknown_reference",  # u9 has no interactions
    ("item_tags", 6): "unknown_reference",  # item i9 is not in items
    ("item_tags", 7): "unknown_reference",  # tag t7 has no name
    ("item_tags", 8): "duplicate",  # the same text as line 5
    ("tag_names", 4): "empty_name",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bad"))
    spec = sources.load(os.path.join(CORPUS, "sources.yaml"))
    meta = pipeline.run(spec, CORPUS, out, config.DataConfig(), shards=1)
    return out, meta


def test_every_bad_row_is_dead_lettered_with_its_reason(run):
    out, _ = run
    letters = [
        json.loads(line)
        for p in glob.glob(os.path.join(out, paths.DEAD_LETTER, "*.jsonl"))
        for line in open(p)
    ]
    got = {(d["source"], d["line"]): d["reason"] for d in letters}
    assert got == EXPECTED
    assert all(os.path.basename(d["file"]) in os.listdir(CORPUS) and d["raw"] for d in letters)


def test_read_is_valid_plus_dead_lettered_per_source(run):
    _, meta = run
    valid = {"interactions": 7, "items": 3, "users": 2, "social": 2, "item_tags": 4, "tag_names": 2}
    for source, report in meta["sources"].items():
        bad = sum(1 for (s, _) in EXPECTED if s == source)
        assert (report["valid"], report["dead_letter"]) == (valid[source], bad), source
        assert report["read"] == report["valid"] + report["dead_letter"]


def test_every_good_row_survives(run):
    out, meta = run
    assert (meta["users"], meta["evaluated_users"], meta["catalog_items"], meta["train_interactions"]) == (
        3,
        1,
        4,
        5,
    )
    (u1,) = records(out, "test")
    assert (u1[F.USER_ID], u1[F.ITEM_ID], u1[F.HISTORY_ITEM_IDS]) == (["u1"], ["i4"], ["i3", "i2", "i1"])
    candidates = {c[F.ITEM_ID][0]: c for c in records(out, paths.CANDIDATES)}
    assert candidates["i3"][F.ITEM_CATEGORIES] == ["c1", "c2"] and candidates["i4"][F.ITEM_CATEGORIES] == []
    # Tags joined through tag_names, most used first: rock twice on i1, jazz once.
    assert candidates["i1"][F.ITEM_TAGS] == ["rock", "jazz"] and candidates["i3"][F.ITEM_TAGS] == ["jazz"]
    users = {u[F.USER_ID][0]: u for u in records(out, paths.USERS)}
    assert users["u1"][F.FRIEND_IDS] == ["u2", "u3"] and users["u2"][F.USER_ATTRIBUTES] == []
    assert users["u1"][F.USER_ATTRIBUTES] == ["age=[18,25)", "gender=f", "country=c1"]
    assert users["u3"][F.USER_ATTRIBUTES] == ["age=>=35", "gender=x", "country=c2"]
