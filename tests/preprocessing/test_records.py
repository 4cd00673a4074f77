"""Parsing rules: each kind of bad row gets its own reason; good rows parse exactly."""

import pytest

from msrec import features as F
from msrec import source_config as sources
from preprocessing import records
from preprocessing.records import BadRecord

SYNTH = sources.preset("synthetic")
ML = sources.preset("movielens-100k")
HEADER = ["user_id", "item_id", "timestamp", "weight"]


def parse(kind, line, spec=SYNTH, header=HEADER):
    return records.parse_row(kind, spec.source(kind), line, header)


def test_interaction_keeps_raw_timestamp_text():
    assert parse("interactions", "u1,i2,0881250949,3.5") == records.Interaction(
        "u1", "i2", 881250949, "0881250949", 3.5
    )


def test_iso_timestamps_become_unix_seconds():
    assert parse("interactions", "u1,i2,2025-01-01T00:00:10Z,1").timestamp == 1735689610


@pytest.mark.parametrize(
    "line, reason",
    [
        ("u1,i2,100", "missing_columns"),
        ("u1,i2,100,1,extra", "extra_columns"),
        (" ,i2,100,1", "empty_id"),
        ("u1,,100,1", "empty_id"),
        ("u1,i2,yesterday,1", "bad_timestamp"),
        ("u1,i2,100,heavy", "bad_weight"),
        ("u1,i2,100,nan", "bad_weight"),
        ("u1,i2,100,inf", "bad_weight"),
    ],
)
def test_bad_interactions_name_their_reason(line, reason):
    with pytest.raises(BadRecord) as err:
        parse("interactions", line)
    assert err.value.reason == reason


def test_self_edge_is_rejected():
    with pytest.raises(BadRecord, match="self_edge"):
        parse("social", "u1,u1", header=["user_id", "friend_id"])


def test_jsonl_item_content_and_bad_json():
    item = parse(
        "items",
        '{"item_id": "i1", "categories": ["c1"], "tags": "t1|t2", "title": "Amber River",'
        ' "description": "A slow river."}',
        header=None,
    )
    assert item == records.Item(
        "i1", ("c1",), ("t1", "t2"), ("amber", "river"), "Amber River", "A slow river."
    )
    with pytest.raises(BadRecord, match="bad_json"):
        parse("items", '{"item_id": ', header=None)


def test_movielens_genre_flags_become_categories():
    flags = ["0"] * 19
    flags[1] = flags[8] = "1"  # Action, Drama
    line = "|".join(["7", "Twelve Monkeys (1995)", "01-Jan-1995", "", "http://x"] + flags)
    item = records.parse_row("items", ML.source("items"), line, None)
    assert item.categories == ("Action", "Drama")
    assert item.title_tokens == ("twelve", "monkeys", "1995")
    assert (item.title, item.description) == ("Twelve Monkeys (1995)", "")  # the preset maps no description


def test_title_tokens_are_the_exports_words_and_the_title_is_kept_raw():
    line = '{"item_id": "i1", "title": "  Amélie: Le Fabuleux Destin! ", "description": null}'
    item = parse("items", line, header=None)
    assert item.title_tokens == F.words(item.title) == ("amélie", "le", "fabuleux", "destin")
    assert (item.title, item.description) == ("  Amélie: Le Fabuleux Destin! ", "")


def test_user_attributes_are_name_value_pairs():
    user = records.parse_row("users", ML.source("users"), "1|24|M|technician|85711", None)
    assert user == records.User("1", ("age=[18,25)", "gender=M", "occupation=technician"))


@pytest.mark.parametrize(
    "line, reason",
    [("1|24|M|technician", "missing_columns"), ("1|24|M|technician|85711|extra", "extra_columns")],
)
def test_headerless_rows_are_checked_against_the_declared_column_count(line, reason):
    with pytest.raises(BadRecord) as err:
        records.parse_row("users", ML.source("users"), line, None)
    assert err.value.reason == reason


def test_jsonl_rows_may_omit_optional_time_and_weight():
    spec = sources.from_dict(
        {
            "sources": {
                "interactions": {
                    "path": "x.jsonl",
                    "format": "jsonl",
                    "fields": {"user_id": "u", "item_id": "i", "timestamp": "t", "weight": "w"},
                }
            }
        }
    ).source("interactions")
    assert records.parse_row("interactions", spec, '{"u": "a", "i": "b"}', None) == records.Interaction(
        "a", "b", 0, "0", 1.0
    )
    with pytest.raises(BadRecord, match="bad_weight"):
        records.parse_row("interactions", spec, '{"u": "a", "i": "b", "w": "lots"}', None)


def test_a_null_time_is_bad_data_not_a_missing_column():
    spec = sources.from_dict(
        {
            "sources": {
                "interactions": {
                    "path": "x.jsonl",
                    "format": "jsonl",
                    "fields": {"user_id": "u", "item_id": "i", "timestamp": "t"},
                }
            }
        }
    )
    with pytest.raises(BadRecord, match="bad_timestamp"):
        records.parse_row(
            "interactions", spec.source("interactions"), '{"u": "a", "i": "b", "t": null}', None
        )


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


@pytest.mark.parametrize("raw", ["old", "nan", "inf"])
def test_a_value_that_is_not_a_number_cannot_be_bucketised(raw):
    with pytest.raises(BadRecord) as err:
        records.bucket(raw, (18.0,), "age")
    assert err.value.reason == "bad_number"


def test_an_empty_bucketised_attribute_is_left_out_like_any_empty_attribute():
    user = records.parse_row("users", ML.source("users"), "1||M|technician|85711", None)
    assert user == records.User("1", ("gender=M", "occupation=technician"))


def test_tag_rows_and_tag_names_parse_and_a_nameless_tag_is_rejected():
    lastfm = sources.preset("lastfm-2k")
    columns = ["userID", "artistID", "tagID", "day", "month", "year"]
    tagging = records.parse_row("item_tags", lastfm.source("item_tags"), "2\t52\t13\t1\t4\t2009", columns)
    assert tagging == records.ItemTag("52", "13")
    header = ["tagID", "tagValue"]
    assert records.parse_row("tag_names", lastfm.source("tag_names"), "13\tblues", header) == records.TagName(
        "13", "blues"
    )
    with pytest.raises(BadRecord) as err:
        records.parse_row("tag_names", lastfm.source("tag_names"), "14\t ", header)
    assert err.value.reason == "empty_name"
