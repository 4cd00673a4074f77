"""The preprocessing pipeline on Prism, Beam's portable local runner (built by bench/engines.py), writes
what the DirectRunner writes, and counts and dead-letters every bad row as it does."""

import collections
import json

import pytest

from bench import outputs
from msrec import config
from msrec import source_config as sources
from preprocessing import pipeline
from tests.preprocessing.test_bad_input import CORPUS, EXPECTED


@pytest.mark.slow
def test_prism_writes_what_the_direct_runner_writes(tiny_data, tiny_raw, prism_flags, tmp_path):
    out = str(tmp_path / "prism")
    spec = sources.preset("synthetic")
    meta = pipeline.run(spec, tiny_raw, out, config.DataConfig(), prism_flags, shards=1)
    assert meta["train_examples"] == 7 and meta["sources"]["interactions"]["read"] == 14
    # metadata (split fingerprint, counts, statistics), vocabularies, scoring graphs, every TFRecord
    assert outputs.compare(tiny_data, out) == []


@pytest.mark.slow
def test_prism_counts_and_dead_letters_every_bad_row(prism_flags, tmp_path):
    out = str(tmp_path / "bad")
    spec = sources.load(f"{CORPUS}/sources.yaml")
    meta = pipeline.run(spec, CORPUS, out, config.DataConfig(), prism_flags, shards=1)
    expected = collections.Counter((source, reason) for (source, _), reason in EXPECTED.items())
    reported = {(s, r): n for s, report in meta["sources"].items() for r, n in report["reasons"].items()}
    assert reported == dict(expected)
    for report in meta["sources"].values():
        assert report["read"] == report["valid"] + report["dead_letter"]
    assert len(outputs.lines(f"{out}/dead_letter")) == len(EXPECTED) == 24


def test_compare_names_what_differs(tmp_path):
    for name, vocab in (("a", "x\ny\n"), ("b", "x\nz\n")):
        (tmp_path / name / "vocab").mkdir(parents=True)
        (tmp_path / name / "vocab" / "item_id.txt").write_text(vocab)
        (tmp_path / name / "item_counts.txt").write_text("3\n")
        meta = {"test_split_sha256": name, "seconds": len(name)}
        (tmp_path / name / "metadata.json").write_text(json.dumps(meta))
    assert outputs.compare(str(tmp_path / "a"), str(tmp_path / "a")) == []
    assert outputs.compare(str(tmp_path / "a"), str(tmp_path / "b")) == [
        "metadata test_split_sha256: 'a' != 'b'",
        "vocab/item_id.txt differs",
    ]
