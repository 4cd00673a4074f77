"""The checks after parsing: duplicates, references, numeric buckets, and the tag join."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from msrec import sources
from preprocessing import content, records
from preprocessing.records import BadRecord, Edge, Item, ItemTag, TagName
from preprocessing.sources import DEAD, VALID, CheckReferences, DropDuplicates, Row


def rows(kind_records):
    return [Row("f.csv", n, raw, record) for n, (raw, record) in enumerate(kind_records, start=2)]


def test_exact_duplicates_keep_the_first_row_and_dead_letter_the_rest():
    edge = Edge("u1", "u2")
    data = rows([("u1,u2", edge), ("u2,u3", Edge("u2", "u3")), ("u1,u2", edge), ("u1,u2", edge)])
    with TestPipeline() as p:
        out = p | beam.Create(data) | DropDuplicates("social")
        assert_that(out[VALID] | "Lines" >> beam.Map(lambda r: r.line), equal_to([2, 3]), label="KeepsFirst")
        assert_that(
            out[DEAD] | beam.Map(lambda d: (d["line"], d["reason"], d["detail"])),
            equal_to([(4, "duplicate", "same as f.csv:2"), (5, "duplicate", "same as f.csv:2")]),
            label="DeadLetters",
        )


def test_unknown_references_are_dead_lettered_per_field():
    spec = sources.SourceSpec(
        path="social.csv",
        fields={"user_id": 0, "friend_id": 1},
        references={"user_id": "interactions", "friend_id": "interactions"},
    )
    edges = rows([("u1,u2", Edge("u1", "u2")), ("u1,u9", Edge("u1", "u9")), ("u8,u2", Edge("u8", "u2"))])
    known = rows([(f"{u},i1", records.Interaction(u, "i1", 0, "0", 1.0)) for u in ("u1", "u2", "u1")])
    with TestPipeline() as p:
        interactions = p | "Known" >> beam.Create(known)
        out = (
            p
            | "Edges" >> beam.Create(edges)
            | CheckReferences("social", spec, {"interactions": interactions})
        )
        assert_that(out[VALID] | beam.Map(lambda r: r.record), equal_to([Edge("u1", "u2")]), label="Valid")
        dead = out[DEAD] | beam.Flatten() | beam.Map(lambda d: (d["line"], d["reason"], d["detail"]))
        assert_that(
            dead,
            equal_to(
                [
                    (3, "unknown_reference", "friend_id='u9' is not in interactions"),
                    (4, "unknown_reference", "user_id='u8' is not in interactions"),
                ]
            ),
            label="Dead",
        )


def test_tags_are_named_counted_and_merged_with_the_items_own():
    taggings = [ItemTag("a", "1"), ItemTag("a", "2"), ItemTag("a", "2"), ItemTag("b", "1"), ItemTag("c", "3")]
    names = [TagName("1", "rock"), TagName("2", "indie"), TagName("3", "jazz")]
    items = [("a", Item("a", ("cat",), ("own",), ("title",))), ("b", Item("b", (), ("rock",), ()))]
    with TestPipeline() as p:
        inputs = {
            "items": p | "Items" >> beam.Create(items),
            "taggings": p | "Taggings" >> beam.Create(taggings),
            "names": p | "Names" >> beam.Create(names),
        }
        out = inputs | content.JoinItemTags(k=2, named=True)
        assert_that(
            out,
            equal_to(
                [
                    ("a", Item("a", ("cat",), ("own", "indie", "rock"), ("title",))),
                    ("b", Item("b", (), ("rock",), ())),  # the joined "rock" is not repeated
                    ("c", Item("c", (), ("jazz",), ())),  # known only to the taggings
                ]
            ),
        )


def test_top_tags_keep_the_k_most_used_ties_by_name():
    assert content.top_tags([("b", 2), ("a", 2), ("c", 5), ("d", 1)], 3) == ("c", "a", "b")


@pytest.mark.parametrize(
    "raw, label",
    [
        ("17", "<18"),
        ("18", "[18,25)"),
        ("24.9", "[18,25)"),
        ("25", "[25,35)"),
        ("35", ">=35"),
        ("90", ">=35"),
    ],
)
def test_numbers_fall_into_half_open_buckets(raw, label):
    assert records.bucket(raw, (18.0, 25.0, 35.0), "age") == label


@pytest.mark.parametrize("raw", ["old", "nan", "inf", ""])
def test_a_value_that_is_not_a_number_cannot_be_bucketised(raw):
    with pytest.raises(BadRecord) as err:
        records.bucket(raw, (18.0,), "age")
    assert err.value.reason == "bad_number"


@pytest.mark.parametrize(
    "social, message",
    [
        ({"references": {"friend_id": "items"}}, "can reference"),
        ({"references": {"friend_id": "users"}}, "not configured"),
        ({"references": {"item_id": "items"}}, "not mapped"),
    ],
)
def test_bad_references_are_config_errors(social, message):
    config = {
        "sources": {
            "interactions": {"path": "i.csv", "fields": {"user_id": 0, "item_id": 1}},
            "items": {"path": "t.csv", "fields": {"item_id": 0}},
            "social": {"path": "s.csv", "fields": {"user_id": 0, "friend_id": 1}, **social},
        }
    }
    with pytest.raises(ValueError, match=message):
        sources.from_dict(config)


@pytest.mark.parametrize("buckets", [[], [25, 18], ["young"]])
def test_bad_buckets_are_config_errors(buckets):
    config = {
        "sources": {
            "interactions": {"path": "i.csv", "fields": {"user_id": 0, "item_id": 1}},
            "users": {
                "path": "u.csv",
                "fields": {"user_id": 0},
                "attributes": {1: "age"},
                "buckets": {1: buckets},
            },
        }
    }
    with pytest.raises(ValueError, match="buckets"):
        sources.from_dict(config)


def test_tag_names_imply_a_reference_from_item_tags():
    lastfm = sources.preset("lastfm-2k")
    assert lastfm.source("item_tags").references == {"tag": "tag_names", "item_id": "items"}
