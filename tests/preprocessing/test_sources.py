"""ReadSources: every source read from its files and checked, the dead letters written beside."""

import glob
import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from msrec import source_config as sources
from preprocessing.records import Interaction, Item
from preprocessing.sources import ReadSources

SPECS = {
    "interactions": sources.SourceSpec(
        path="ratings.csv",
        fields={"user_id": 0, "item_id": 1, "timestamp": 2},
        references={"item_id": "items"},
    ),
    "items": sources.SourceSpec(path="items.csv", fields={"item_id": 0, "title": 1}),
}


def test_read_sources_gives_valid_records_and_writes_every_dead_letter(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    # Line 2 repeats line 1, line 3 names an item items.csv lacks, line 4 has no time.
    (raw / "ratings.csv").write_text("u1,a,10\nu1,a,10\nu1,z,20\nu2,b,x\nu2,b,30\n")
    (raw / "items.csv").write_text("a,Alpha\nb,Beta\n")
    with TestPipeline() as p:
        out = p | ReadSources(SPECS, str(raw), str(tmp_path / "dead"))
        interactions = out["interactions"] | beam.FlatMap(lambda batch: batch.records())
        expected = [Interaction("u1", "a", 10, "10", 1.0), Interaction("u2", "b", 30, "30", 1.0)]
        assert_that(interactions, equal_to(expected), label="Interactions")
        items = [Item("a", (), (), ("alpha",), "Alpha"), Item("b", (), (), ("beta",), "Beta")]
        assert_that(out["items"], equal_to(items), label="Items")
    files = glob.glob(str(tmp_path / "dead" / "*.jsonl"))
    letters = [json.loads(line) for path in files for line in open(path)]
    assert sorted((d["line"], d["reason"], d["detail"]) for d in letters) == [
        (2, "duplicate", f"same as {raw / 'ratings.csv'}:1"),
        (3, "unknown_reference", "item_id='z' is not in items"),
        (4, "bad_timestamp", "'x'"),
    ]
