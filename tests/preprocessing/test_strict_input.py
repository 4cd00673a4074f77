"""Rows that used to get through (tests/testdata/movielens-format, read by the movielens-100k preset):
a time beyond int64 or outside the window, an unknown film, an unknown user. Each is dead-lettered
with its reason, before the split, and every valid row is kept."""

import glob
import json
import os
import shutil

import pytest

from msrec import config, paths
from msrec import features as F
from msrec import source_config as sources
from preprocessing import pipeline
from tests.preprocessing.test_pipeline import records

# Invented rows in MovieLens 100K's formats, stored under neutral names (no real dataset file is
# committed) and laid out with the preset's file names at test time.
CORPUS = os.path.join(os.path.dirname(__file__), "..", "testdata", "movielens-format")
LAYOUT = {"ratings.tsv": "u.data", "items.psv": "u.item", "users.psv": "u.user"}
EXPECTED = {  # u.data line -> (reason, what the detail names)
    8: ("bad_timestamp", "-99999999999999999999999"),
    9: ("unknown_reference", "item_id='99999' is not in items"),
    10: ("unknown_reference", "user_id='9999' is not in users"),
    11: ("bad_timestamp", "outside timestamp_window [1970-01-01, 2100-01-01)"),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("strict"))
    raw = tmp_path_factory.mktemp("strict_raw")
    for stored, name in LAYOUT.items():
        shutil.copy(os.path.join(CORPUS, stored), raw / name)
    meta = pipeline.run(sources.preset("movielens-100k"), str(raw), out, config.DataConfig(), shards=1)
    letters = [
        json.loads(line)
        for p in glob.glob(os.path.join(out, paths.DEAD_LETTER, "*.jsonl"))
        for line in open(p)
    ]
    return out, meta, letters


def test_each_row_that_got_through_is_dead_lettered_with_its_reason(run):
    _, _, letters = run
    assert {(d["source"], d["line"]) for d in letters} == {("interactions", n) for n in EXPECTED}
    for d in letters:
        reason, named = EXPECTED[d["line"]]
        assert d["reason"] == reason and named in d["detail"], d
        assert os.path.basename(d["file"]) == "u.data" and d["raw_length"] == len(d["raw"])


def test_every_valid_row_is_kept(run):
    _, meta, _ = run
    counts = {kind: (r["read"], r["valid"]) for kind, r in meta["sources"].items()}
    assert counts == {"interactions": (12, 8), "items": (4, 4), "users": (3, 3)}
    assert meta["sources"]["interactions"]["reasons"] == {"bad_timestamp": 2, "unknown_reference": 2}
    # 115: 266 267 | 268 | 265; 116: 265 | 266 | 267; 117: 266 (TRAIN only)
    assert (meta["users"], meta["evaluated_users"], meta["catalog_items"]) == (3, 2, 4)
    assert meta["train_interactions"] == 4


def test_a_bad_copy_never_replaces_the_real_event(run):
    out, _, _ = run
    # Had the copy with the absurd time been parsed, it would be the earliest (115, 265) and leave TEST.
    tests = {ex[F.USER_ID][0]: (ex[F.ITEM_ID][0], ex[F.HISTORY_ITEM_IDS]) for ex in records(out, "test")}
    assert tests == {"115": ("265", ["268", "267", "266"]), "116": ("267", ["266", "265"])}
    assert {c[F.ITEM_ID][0] for c in records(out, paths.CANDIDATES)} == {"265", "266", "267", "268"}
    assert {u[F.USER_ID][0] for u in records(out, paths.USERS)} == {"115", "116", "117"}
