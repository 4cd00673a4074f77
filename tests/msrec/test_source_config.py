"""Source configs: what a config may say, and the errors for what it may not."""

import pytest

from msrec import source_config as sources


def config(**extra):
    base = {
        "interactions": {"path": "i.csv", "fields": {"user_id": 0, "item_id": 1}},
        "items": {"path": "t.csv", "fields": {"item_id": 0}},
    }
    return {"sources": {**base, **extra}}


@pytest.mark.parametrize(
    "social, message",
    [
        ({"references": {"friend_id": "items"}}, "can reference"),
        ({"references": {"friend_id": "users"}}, "not configured"),
        ({"references": {"item_id": "items"}}, "only"),  # an edge has no item
    ],
)
def test_bad_references_are_config_errors(social, message):
    edges = {"path": "s.csv", "fields": {"user_id": 0, "friend_id": 1}, **social}
    with pytest.raises(ValueError, match=message):
        sources.from_dict(config(social=edges))


def test_a_reference_from_a_field_the_rows_do_not_carry_is_a_config_error():
    # Last.fm's taggings have a user column, but an item tag record keeps only item and tag.
    tags = {
        "path": "t.csv",
        "fields": {"item_id": 1, "tag": 2, "user_id": 0},
        "references": {"user_id": "users"},
    }
    with pytest.raises(ValueError, match="only"):
        sources.from_dict(config(item_tags=tags))


@pytest.mark.parametrize(
    "users, message",
    [
        ({"attributes": {1: "age"}, "buckets": {1: []}}, "ascending and non-empty"),
        ({"attributes": {1: "age"}, "buckets": {1: [25, 18]}}, "ascending and non-empty"),
        ({"attributes": {1: "age"}, "buckets": {1: ["young"]}}, "list of numbers"),
        ({"attributes": {1: "age"}, "buckets": {2: [18]}}, "not attributes"),
    ],
)
def test_bad_buckets_are_config_errors(users, message):
    with pytest.raises(ValueError, match=message):
        sources.from_dict(config(users={"path": "u.csv", "fields": {"user_id": 0}, **users}))


def test_buckets_belong_to_user_attributes_only():
    items = {"path": "t.csv", "fields": {"item_id": 0}, "buckets": {1: [1]}}
    with pytest.raises(ValueError, match="'users' only"):
        sources.from_dict(config(items=items))


def test_tag_names_imply_a_reference_from_item_tags_however_the_spec_is_built():
    assert sources.preset("lastfm-2k").source("item_tags").references == {
        "tag": "tag_names",
        "item_id": "items",
    }
    built = sources.DatasetSpec(
        "x",
        {
            "item_tags": sources.SourceSpec(path="t", fields={"item_id": 0, "tag": 1}),
            "tag_names": sources.SourceSpec(path="n", fields={"tag_id": 0, "name": 1}),
        },
    )
    assert built.source("item_tags").references == {"tag": "tag_names"}


def test_tag_names_without_item_tags_is_a_config_error():
    with pytest.raises(ValueError, match="item_tags"):
        sources.from_dict(config(tag_names={"path": "n.csv", "fields": {"tag_id": 0, "name": 1}}))
