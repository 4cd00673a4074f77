"""The public datasets through the real pipeline: PROTOCOL.md's split, number for number.

Expected values are those of ``shared/benchmarks/peers.md``. These tests need
``$MSREC_DATA_DIR`` (``.ci/run`` sets it and fails without it); elsewhere they skip.
"""

import pytest

from msrec import config, paths
from msrec import features as F
from msrec import source_config as sources
from preprocessing import pipeline
from tests.conftest import DATA_ENV, real_dataset

PEERS = {
    "movielens-100k": ("a204da14e544b06c95a55303a21722021d3072f5eb18b974dce9d1e04109f90a", 943, 1682, 98114),
    "lastfm-2k": ("9b140c43de6f846cd67926abef9668123e57904268af385d46936e931fa5787c", 1883, 17632, 89068),
}


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                real_dataset(name) is None, reason=f"${DATA_ENV}/{name} not present; .ci/run provides it"
            ),
        )
        for name in sorted(PEERS)
    ],
)
def test_split_matches_the_published_fingerprint(name, tmp_path):
    raw = real_dataset(name)
    # The scoring graph's regression over all 17,632 Last.fm artists takes ~3 min; 2,000 run the same code.
    data = config.DataConfig(regression_max_items=2000)
    meta = pipeline.run(sources.preset(name), str(raw), str(tmp_path / "out"), data)
    fingerprint, users, catalog, train = PEERS[name]
    assert meta["test_split_sha256"] == fingerprint
    assert (meta["evaluated_users"], meta["catalog_items"], meta["train_interactions"]) == (
        users,
        catalog,
        train,
    )
    assert all(r["read"] == r["valid"] + r["dead_letter"] for r in meta["sources"].values())
    # The presets check every interaction's item (and MovieLens's user) against its table: none is unknown.
    assert meta["sources"]["interactions"]["dead_letter"] == 0
    CONTENT_CHECKS[name](meta, str(tmp_path / "out"))


def _lastfm_tags(meta, out):
    # user_taggedartists.dat names 1,538 taggings of artists missing from artists.dat.
    assert meta["sources"]["item_tags"]["reasons"] == {"unknown_reference": 1538}
    assert meta["sources"]["tag_names"]["dead_letter"] == 0
    tags = open(paths.vocab_file(out, F.TAG_VOCAB), encoding="utf-8").read().splitlines()
    assert meta["vocabulary_sizes"][F.TAG_VOCAB] == len(tags) > 1000 and tags[0] == "rock"


def _movielens_age_buckets(meta, out):
    attributes = open(paths.vocab_file(out, F.ATTRIBUTE_VOCAB), encoding="utf-8").read().splitlines()
    ages = {a for a in attributes if a.startswith("age=")}
    # MovieLens 1M's seven age groups, not 61 raw ages.
    assert ages == {
        "age=<18",
        "age=[18,25)",
        "age=[25,35)",
        "age=[35,45)",
        "age=[45,50)",
        "age=[50,56)",
        "age=>=56",
    }


CONTENT_CHECKS = {"lastfm-2k": _lastfm_tags, "movielens-100k": _movielens_age_buckets}
