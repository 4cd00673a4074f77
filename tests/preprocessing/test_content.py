"""Item content and user profiles by id, with tags joined from their own tables onto the items."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocessing import content
from preprocessing.records import Item, ItemTag, TagName, User


def joined(items, taggings, names=None, k=2):
    with TestPipeline() as p:
        inputs = {
            "items": p | "Items" >> beam.Create(items),
            "taggings": p | "Taggings" >> beam.Create(taggings),
        }
        if names is not None:
            inputs["names"] = p | "Names" >> beam.Create(names)
        out = inputs | content.JoinItemTags(k=k)
        yield out


def test_tags_are_named_counted_truncated_and_merged_with_the_items_own():
    taggings = [ItemTag("a", t) for t in ("1", "2", "2", "3", "3", "3")] + [
        ItemTag("b", "1"),
        ItemTag("c", "3"),
    ]
    names = [TagName("1", "rock"), TagName("2", "indie"), TagName("3", "jazz")]
    items = [("a", Item("a", ("cat",), ("own",), ("title",))), ("b", Item("b", (), ("rock",), ()))]
    expected = [
        ("a", Item("a", ("cat",), ("own", "jazz", "indie"), ("title",))),  # k=2: "rock" (used once) is cut
        ("b", Item("b", (), ("rock",), ())),  # the joined "rock" is not repeated
        ("c", Item("c", (), ("jazz",), ())),  # known only to the taggings
    ]
    for out in joined(items, taggings, names):
        assert_that(out, equal_to(expected))


def test_without_tag_names_the_tag_column_is_the_tag():
    for out in joined([], [ItemTag("a", "rock"), ItemTag("a", "pop"), ItemTag("a", "pop")]):
        assert_that(out, equal_to([("a", Item("a", (), ("pop", "rock"), ()))]))


def test_top_tags_keep_the_k_most_used_ties_by_name():
    assert content.top_tags([("b", 2), ("a", 2), ("c", 5), ("d", 1)], 3) == ("c", "a", "b")


def test_two_rows_for_one_item_merge_to_the_same_choice_every_time():
    rows = [Item("a", ("x",), (), ()), Item("a", ("w",), (), ())]
    for order in (rows, rows[::-1]):
        assert content.merge("a", {"items": order, "tags": [("t",)]}) == Item("a", ("w",), ("t",), ())


def test_join_content_keys_items_with_their_named_tags_and_users_by_id():
    items = [Item("a", ("cat",), (), ()), Item("b", (), (), ())]
    taggings = [ItemTag("a", "1"), ItemTag("a", "2"), ItemTag("a", "2"), ItemTag("b", "9")]
    with TestPipeline() as p:
        records = {
            "interactions": p | "Interactions" >> beam.Create([]),
            "items": p | "Items" >> beam.Create(items),
            "item_tags": p | "Taggings" >> beam.Create(taggings),
            "tag_names": p | "Names" >> beam.Create([TagName("1", "rock"), TagName("2", "indie")]),
            "users": p | "Users" >> beam.Create([User("u1", ("age=20",))]),
        }
        out = records | content.JoinContent(tags=1)
        # a keeps its most used tag; tag 9 has no name, so b has none.
        expected = [("a", Item("a", ("cat",), ("indie",), ())), ("b", Item("b", (), (), ()))]
        assert_that(out["items"], equal_to(expected), label="Items")
        assert_that(out["users"], equal_to([("u1", User("u1", ("age=20",)))]), label="Users")


def test_join_content_without_items_or_users_gives_empty_collections():
    with TestPipeline() as p:
        out = {"interactions": p | beam.Create([])} | content.JoinContent(tags=3)
        assert_that(out["items"], equal_to([]), label="NoItems")
        assert_that(out["users"], equal_to([]), label="NoUsers")
