"""Checks after parsing, in Beam: exact duplicates and references to unknown ids, for every source."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from msrec import source_config as sources
from preprocessing.batches import Batch
from preprocessing.checks import CheckReference, DropDuplicates
from preprocessing.records import Edge, Interaction, Item, User
from preprocessing.rows import DEAD, VALID, Row
from preprocessing.sources import check_sources

SOCIAL = sources.SourceSpec(
    path="social.csv",
    fields={"user_id": 0, "friend_id": 1},
    references={"user_id": "interactions", "friend_id": "interactions"},
)


def letters(dead, label):
    return dead | f"Letter{label}" >> beam.Map(lambda d: (d["file"], d["line"], d["reason"], d["detail"]))


def interaction(path, line, user, item):
    return Row(path, line, f"{user},{item},0,1.0", Interaction(user, item, 0, "0", 1.0))


def read(p, kind, rows):
    """``ReadSource`` 's output for ``rows``: one batch, no dead letters."""
    return {
        VALID: p | f"Rows_{kind}" >> beam.Create([Batch.from_rows(rows)]),
        DEAD: p | f"NoDead_{kind}" >> beam.Create([]),
    }


def test_exact_duplicates_keep_the_first_by_file_then_line():
    edge, other = Edge("u1", "u2"), Edge("u2", "u3")
    # Out of order, across two files and two batches: the sort, not the arrival order, picks the first.
    rows = [
        Row("b.csv", 2, "u1,u2", edge),
        Row("a.csv", 9, "u1,u2", edge),
        Row("a.csv", 3, "u2,u3", other),
        Row("a.csv", 4, "u1,u2", edge),
    ]
    with TestPipeline() as p:
        batches = [Batch.from_rows(rows[:2]), Batch.from_rows(rows[2:])]
        out = p | beam.Create(batches) | DropDuplicates("social")
        kept = out[VALID] | beam.FlatMap(lambda b: zip(b.path, b.line.tolist(), b.records(), strict=True))
        assert_that(kept, equal_to([("a.csv", 3, other), ("a.csv", 4, edge)]), label="KeepsFirst")
        expected = [
            ("a.csv", 9, "duplicate", "same as a.csv:4"),
            ("b.csv", 2, "duplicate", "same as a.csv:4"),
        ]
        assert_that(letters(out[DEAD], "Dup"), equal_to(expected), label="DeadLetters")


def test_unknown_references_are_dead_lettered_once_per_row():
    edges = [
        Row("s.csv", 2, "u1,u2", Edge("u1", "u2")),
        Row("s.csv", 3, "u1,u9", Edge("u1", "u9")),
        Row("s.csv", 4, "u8,u2", Edge("u8", "u2")),
        Row("s.csv", 5, "u8,u9", Edge("u8", "u9")),  # breaks both: one dead letter, for the first field
    ]
    users = [interaction("i.csv", n, u, "i1") for n, u in enumerate(["u1", "u2"])]
    with TestPipeline() as p:
        specs = {"social": SOCIAL, "interactions": sources.SourceSpec(path="i.csv", fields={})}
        out = check_sources({"social": read(p, "social", edges), "interactions": read(p, "i", users)}, specs)
        assert_that(out["social"][VALID], equal_to([Edge("u1", "u2")]), label="Valid")
        expected = [
            ("s.csv", 3, "unknown_reference", "friend_id='u9' is not in interactions"),
            ("s.csv", 4, "unknown_reference", "user_id='u8' is not in interactions"),
            ("s.csv", 5, "unknown_reference", "friend_id='u9' is not in interactions"),
        ]
        assert_that(letters(out["social"][DEAD], "Ref"), equal_to(expected), label="Dead")


def test_an_empty_referenced_source_dead_letters_every_row():
    rows = [interaction("i.csv", n, f"u{n}", "i1") for n in (2, 3)]
    with TestPipeline() as p:
        nothing = p | "NoItems" >> beam.Create([])
        out = (
            p
            | beam.Create([Batch.from_rows(rows)])
            | CheckReference("interactions", "item_id", "items", nothing)
        )
        assert_that(out[VALID] | beam.FlatMap(lambda b: b.records()), equal_to([]), label="NoneValid")
        assert_that(
            letters(out[DEAD], "All") | beam.Map(lambda d: (d[1], d[2])),
            equal_to([(2, "unknown_reference"), (3, "unknown_reference")]),
            label="AllDead",
        )


def test_interactions_stay_batched_and_die_once_for_the_first_broken_field():
    spec = sources.SourceSpec(
        path="r.csv",
        fields={"user_id": 0, "item_id": 1},
        references={"user_id": "users", "item_id": "items"},
    )
    rows = [
        interaction("r.csv", 1, "u1", "i1"),
        interaction("r.csv", 2, "u9", "i1"),  # unknown user
        interaction("r.csv", 3, "u1", "i9"),  # unknown item
        interaction("r.csv", 4, "u9", "i9"),  # both: one dead letter, for item_id (fields in sorted order)
    ]
    with TestPipeline() as p:
        sources_read = {
            "interactions": read(p, "interactions", rows),
            "users": read(p, "users", [Row("u", 1, "u1", User("u1", ()))]),
            "items": read(p, "items", [Row("t", 1, "i1", Item("i1", (), (), ()))]),
        }
        specs = {"interactions": spec, "users": sources.SourceSpec(path="u", fields={"user_id": 0})}
        specs["items"] = sources.SourceSpec(path="t", fields={"item_id": 0})
        out = check_sources(sources_read, specs)
        valid = out["interactions"][VALID] | "Lines" >> beam.FlatMap(lambda b: b.line.tolist())
        assert_that(valid, equal_to([1]), label="Valid")
        raw = out["interactions"][VALID] | "Raw" >> beam.FlatMap(lambda b: b.raw.tolist())
        assert_that(raw, equal_to([""]), label="WithoutRawText")
        assert_that(out["items"][VALID], equal_to([Item("i1", (), (), ())]), label="Records")
        expected = [
            ("r.csv", 2, "unknown_reference", "user_id='u9' is not in users"),
            ("r.csv", 3, "unknown_reference", "item_id='i9' is not in items"),
            ("r.csv", 4, "unknown_reference", "item_id='i9' is not in items"),
        ]
        assert_that(letters(out["interactions"][DEAD], "Ref"), equal_to(expected), label="Dead")
