"""EncodeRecords: every record folder's tf.Examples from the users, their friends and item content."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from tensorflow.core.example import example_pb2

from msrec import config, paths
from msrec import features as F
from preprocessing import batches, encode, split
from preprocessing.records import Interaction, Item, User


def timeline(user, items):
    return split.split_user(user, [Interaction(user, i, t, str(t), 1.0) for t, i in enumerate(items)])


TIMELINES = [timeline("u", ["i1", "i2", "i3", "i4", "i5"]), timeline("v", ["j1", "j2"])]


def values(serialized, *names):
    """The first value of each of ``names`` (None when empty) of one serialized example."""
    feature = example_pb2.Example.FromString(serialized).features.feature
    out = []
    for name in names:
        kind = feature[name].WhichOneof("kind")
        listed = list(getattr(feature[name], kind).value) if kind else []
        out.append(listed[0].decode() if listed and isinstance(listed[0], bytes) else (listed or [None])[0])
    return tuple(out)


def test_encode_records_writes_each_folder_with_content_friends_and_neighbours_joined():
    data = config.DataConfig(text_encoder="none", history_mode="prefix")
    with TestPipeline() as p:
        inputs = {
            "timelines": p | "Timelines" >> beam.Create(TIMELINES),
            "user_batches": p | "Batches" >> beam.Create([batches.packed(TIMELINES)]),
            "items": p | "Items" >> beam.Create([("i1", Item("i1", ("rock",), (), ()))]),
            "users": p | "Users" >> beam.Create([("u", User("u", ("age=20",)))]),
            "item_graph": p | "ItemGraph" >> beam.Create([("i2", [("i1", 0.5)])]),
            "social_graph": p | "Friends" >> beam.Create([("u", [("v", 2.0)])]),
        }
        out = inputs | encode.EncodeRecords(data)
        assert sorted(out) == sorted([*paths.SPLITS, paths.USERS, paths.CANDIDATES])  # no item_text
        pairs = lambda name: out[name] | f"Pairs{name}" >> beam.Map(values, F.USER_ID, F.ITEM_ID)  # noqa: E731
        train = [("u", "i1"), ("u", "i2"), ("u", "i3"), ("v", "j1"), ("v", "j2")]
        assert_that(pairs("train"), equal_to(train), label="Train")
        assert_that(pairs("validation"), equal_to([("u", "i4")]), label="Validation")
        assert_that(pairs("test"), equal_to([("u", "i5")]), label="Test")
        users = out[paths.USERS] | "UserValues" >> beam.Map(
            values, F.USER_ID, F.FRIEND_IDS, F.USER_ATTRIBUTES
        )
        assert_that(users, equal_to([("u", "v", "age=20"), ("v", None, None)]), label="Users")
        fields = (F.ITEM_ID, F.ITEM_CATEGORIES, F.ITEM_NEIGHBOR_IDS)
        candidates = out[paths.CANDIDATES] | "CandidateValues" >> beam.Map(values, *fields)
        catalog = [(i, None, None) for i in ("i3", "i4", "i5", "j1", "j2")]
        expected = [("i1", "rock", None), ("i2", None, "i1"), *catalog]
        assert_that(candidates, equal_to(expected), label="Candidates")
