"""Checks after parsing, in Beam: exact duplicates and references to unknown ids."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from msrec import source_config as sources
from preprocessing.records import Edge, Interaction
from preprocessing.sources import DEAD, VALID, CheckReferences, DropDuplicates, Row

SOCIAL = sources.SourceSpec(
    path="social.csv",
    fields={"user_id": 0, "friend_id": 1},
    references={"user_id": "interactions", "friend_id": "interactions"},
)


def letters(dead, label):
    return dead | f"Letter{label}" >> beam.Map(lambda d: (d["file"], d["line"], d["reason"], d["detail"]))


def test_exact_duplicates_keep_the_first_by_file_then_line():
    edge, other = Edge("u1", "u2"), Edge("u2", "u3")
    # Out of order and across two files: the sort, not the arrival order, picks the first.
    data = [
        Row("b.csv", 2, "u1,u2", edge),
        Row("a.csv", 9, "u1,u2", edge),
        Row("a.csv", 3, "u2,u3", other),
        Row("a.csv", 4, "u1,u2", edge),
    ]
    with TestPipeline() as p:
        out = p | beam.Create(data) | DropDuplicates("social")
        kept = out[VALID] | beam.Map(lambda r: (r.path, r.line))
        assert_that(kept, equal_to([("a.csv", 3), ("a.csv", 4)]), label="KeepsFirst")
        expected = [
            ("a.csv", 9, "duplicate", "same as a.csv:4"),
            ("b.csv", 2, "duplicate", "same as a.csv:4"),
        ]
        assert_that(letters(out[DEAD], "Dup"), equal_to(expected), label="DeadLetters")


def _interaction_ids(p, users):
    return p | "Known" >> beam.Create(users)


def test_unknown_references_are_dead_lettered_once_per_row():
    edges = [
        Row("s.csv", 2, "u1,u2", Edge("u1", "u2")),
        Row("s.csv", 3, "u1,u9", Edge("u1", "u9")),
        Row("s.csv", 4, "u8,u2", Edge("u8", "u2")),
        Row("s.csv", 5, "u8,u9", Edge("u8", "u9")),  # breaks both: one dead letter, for the first field
    ]
    with TestPipeline() as p:
        users = _interaction_ids(p, ["u1", "u2"])
        out = (
            p
            | "Edges" >> beam.Create(edges)
            | CheckReferences("social", SOCIAL, {"friend_id": users, "user_id": users})
        )
        assert_that(out[VALID] | beam.Map(lambda r: r.record), equal_to([Edge("u1", "u2")]), label="Valid")
        expected = [
            ("s.csv", 3, "unknown_reference", "friend_id='u9' is not in interactions"),
            ("s.csv", 4, "unknown_reference", "user_id='u8' is not in interactions"),
            ("s.csv", 5, "unknown_reference", "friend_id='u9' is not in interactions"),
        ]
        assert_that(letters(out[DEAD], "Ref"), equal_to(expected), label="Dead")


def test_an_empty_referenced_source_dead_letters_every_row():
    rows = [Row("i.csv", n, f"u{n},i1", Interaction(f"u{n}", "i1", 0, "0", 1.0)) for n in (2, 3)]
    spec = sources.SourceSpec(
        path="i.csv", fields={"user_id": 0, "item_id": 1}, references={"item_id": "items"}
    )
    with TestPipeline() as p:
        nothing = p | "NoItems" >> beam.Create([])
        out = p | beam.Create(rows) | CheckReferences("interactions", spec, {"item_id": nothing})
        assert_that(out[VALID], equal_to([]), label="NoneValid")
        assert_that(
            letters(out[DEAD], "All") | beam.Map(lambda d: (d[1], d[2])),
            equal_to([(2, "unknown_reference"), (3, "unknown_reference")]),
            label="AllDead",
        )
