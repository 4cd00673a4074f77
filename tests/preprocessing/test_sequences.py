"""History examples: what each split's example may and may not see."""

import math

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from msrec import features as F
from preprocessing import sequences, split
from preprocessing.records import Interaction

HOUR = 3600
TIMELINE = split.split_user(
    "u", [Interaction("u", f"i{k}", k * HOUR, str(k * HOUR), float(k)) for k in range(1, 6)]
)


def by_split(length=10):
    out = {}
    for name, values in sequences.examples(TIMELINE, length):
        out.setdefault(name, []).append(values)
    return out


def test_one_train_example_per_train_interaction_with_prior_history():
    train = by_split()["train"]
    assert [e[F.ITEM_ID] for e in train] == ["i1", "i2", "i3"]
    assert [e[F.HISTORY_ITEM_IDS] for e in train] == [[], ["i1"], ["i2", "i1"]]


def test_validation_sees_train_and_test_sees_train_plus_validation():
    ex = by_split()
    (val,), (test,) = ex["validation"], ex["test"]
    assert (val[F.ITEM_ID], val[F.HISTORY_ITEM_IDS], val[F.SEEN_ITEM_IDS]) == (
        "i4",
        ["i3", "i2", "i1"],
        ["i1", "i2", "i3"],
    )
    assert test[F.ITEM_ID] == "i5"
    assert test[F.HISTORY_ITEM_IDS] == ["i4", "i3", "i2", "i1"]
    assert test[F.SEEN_ITEM_IDS] == ["i1", "i2", "i3", "i4"]


def test_history_is_truncated_to_the_most_recent_and_gaps_are_log_hours():
    (test,) = by_split(length=2)["test"]
    assert test[F.HISTORY_ITEM_IDS] == ["i4", "i3"]
    assert test[F.HISTORY_WEIGHTS] == [4.0, 3.0]
    assert test[F.HISTORY_TIME_GAPS] == [0.0, math.log1p(1.0)]


def test_latest_state_never_includes_test():
    state = sequences.latest_state(TIMELINE, 10)
    assert state[F.HISTORY_ITEM_IDS] == ["i4", "i3", "i2", "i1"]


def test_encoded_timelines_are_the_examples_with_content_joined():
    from tensorflow.core.example import example_pb2

    from preprocessing import encode
    from preprocessing.records import Item, User

    contract = F.contract(F.Lengths(history=10))
    friends = [("f1", 2.0)]
    items = [("i1", Item("i1", ("rock",), ("loud",), ("one",))), ("i3", Item("i3", ("pop",), (), ()))]
    users = [("u", User("u", ("age=20",)))]
    neighbors = [("i2", [("i1", 0.5)])]

    def expected(split):
        content = (dict(items), dict(users), dict(neighbors))
        return [
            F.encode_example(encode.with_content(v, *content), contract)
            for s, v in sequences.examples(TIMELINE, 10, friends)
            if s == split
        ]

    with TestPipeline() as p:
        side = [p | f"Side{n}" >> beam.Create(rows) for n, rows in enumerate((items, users, neighbors))]
        lookups = encode.Lookups.of(*side)
        out = p | beam.Create([(TIMELINE, friends)]) | encode.EncodeTimelines(contract, lookups, 10)
        for split in ("train", "validation", "test"):
            parsed = out[split] | f"Parse{split}" >> beam.Map(example_pb2.Example.FromString)
            assert_that(parsed, equal_to(expected(split)), label=split)
    assert len(expected("train")) == 3


def test_every_example_of_a_user_carries_their_friends():
    friends = [("f1", 3.0), ("f2", 1.0)]
    for _, values in sequences.examples(TIMELINE, 10, friends):
        assert values[F.FRIEND_IDS] == ["f1", "f2"] and values[F.FRIEND_WEIGHTS] == [3.0, 1.0]
    assert sequences.latest_state(TIMELINE, 10)[F.FRIEND_IDS] == []


def test_others_mode_gives_each_train_example_all_other_train_items():
    train = [values for split, values in sequences.examples(TIMELINE, 10, mode="others") if split == "train"]
    assert [e[F.HISTORY_ITEM_IDS] for e in train] == [["i3", "i2"], ["i3", "i1"], ["i2", "i1"]]
    (test,) = [v for s, v in sequences.examples(TIMELINE, 10, mode="others") if s == "test"]
    assert test[F.HISTORY_ITEM_IDS] == ["i4", "i3", "i2", "i1"]  # held-out examples are unchanged
