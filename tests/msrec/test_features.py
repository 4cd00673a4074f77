"""The feature contract: encoding, parsing and serving specs agree with each other."""

import numpy as np
import tensorflow as tf

from msrec import features as F

LENGTHS = F.Lengths(history=3, attributes=2, categories=2, tags=2, title_tokens=2)
CONTRACT = F.contract(LENGTHS)


def test_names_are_unique_and_towers_cover_model_inputs():
    names = [f.name for f in CONTRACT]
    assert len(names) == len(set(names))
    assert {f.name for f in F.select(CONTRACT, F.QUERY)} == {
        F.USER_ID,
        F.HISTORY_ITEM_IDS,
        F.HISTORY_WEIGHTS,
        F.HISTORY_TIME_GAPS,
        F.USER_ATTRIBUTES,
        F.FRIEND_IDS,
        F.FRIEND_WEIGHTS,
    }
    assert F.by_name(CONTRACT)[F.HISTORY_ITEM_IDS].length == 3


def test_pad_truncates_and_fills():
    history = F.by_name(CONTRACT)[F.HISTORY_ITEM_IDS]
    assert F.pad(["a", "b", "c", "d"], history) == ["a", "b", "c"]
    assert F.pad(["a"], history) == ["a", "", ""]


def test_example_round_trip_pads_and_truncates():
    values = {
        F.USER_ID: "u7",
        F.HISTORY_ITEM_IDS: ["i3", "i2", "i1", "i0"],
        F.HISTORY_WEIGHTS: [2.0],
        F.ITEM_ID: "i9",
        F.SEEN_ITEM_IDS: ["i1", "i2", "i3", "i4", "i5"],
        F.EVENT_WEIGHT: 4.5,
    }
    serialized = F.encode_example(values, CONTRACT).SerializeToString()
    parsed = F.densify(tf.io.parse_example([serialized], F.parse_spec(CONTRACT)), CONTRACT)
    assert parsed[F.USER_ID].numpy().tolist() == [b"u7"]
    assert parsed[F.HISTORY_ITEM_IDS].numpy().tolist() == [[b"i3", b"i2", b"i1"]]
    np.testing.assert_allclose(parsed[F.HISTORY_WEIGHTS].numpy(), [[2.0, 0.0, 0.0]])
    assert parsed[F.ITEM_CATEGORIES].shape == (1, 2)
    assert parsed[F.EVENT_WEIGHT].numpy().tolist() == [4.5]
    # eval features stay ragged: all five seen items survive
    assert parsed[F.SEEN_ITEM_IDS].to_list() == [[b"i1", b"i2", b"i3", b"i4", b"i5"]]


def test_tensor_specs_have_batch_dimension_first():
    specs = F.tensor_specs(F.select(CONTRACT, F.QUERY))
    assert specs[F.USER_ID].shape.as_list() == [None]
    assert specs[F.HISTORY_ITEM_IDS].shape.as_list() == [None, 3]
    assert specs[F.HISTORY_WEIGHTS].dtype == tf.float32


def test_contract_survives_json_round_trip():
    assert F.from_dict(F.to_dict(CONTRACT)) == CONTRACT


def test_the_wire_writer_gives_the_protobuf_message():
    from tensorflow.core.example import example_pb2

    features = CONTRACT + (F.Feature("count", F.INT, F.SEQUENCE, F.CONTEXT, 3),)
    long_id = "é" * 9000  # 18,000 bytes: a length past the looked-up varints
    cases = [
        {},  # every feature missing: scalars get their pad value, lists stay empty
        {
            F.USER_ID: "u7",
            F.HISTORY_ITEM_IDS: ["i3", long_id, "ü"],
            F.HISTORY_WEIGHTS: [2.0, -0.5, 1e-30],
            F.ITEM_ID: 42,  # written as its text, as encode_example does
            F.SEEN_ITEM_IDS: [f"i{n}" for n in range(300)],
            F.EVENT_WEIGHT: 4.5,
            "count": [0, 1, 300, -7, 2**62],
        },
    ]
    write = F.ExampleWriter(features)
    for values in cases * 2:  # the second time from the writer's kept encodings
        expected = F.encode_example(values, features)
        assert example_pb2.Example.FromString(write(values)) == expected


def test_parts_reused_across_examples_give_the_same_messages():
    from tensorflow.core.example import example_pb2

    write = F.ExampleWriter(CONTRACT)
    profile = {F.USER_ID: "u1", F.USER_ATTRIBUTES: ["age=20"], F.FRIEND_IDS: ["u2"], F.FRIEND_WEIGHTS: [0.5]}
    kept = write.part(profile, profile)
    for item, history in (("i1", ["i0"]), ("i2", ["i1", "i0"])):
        rest = {F.ITEM_ID: item, F.HISTORY_ITEM_IDS: history}
        names = [f.name for f in CONTRACT if f.name not in profile]
        serialized = write.message(kept + write.part(rest, names))
        assert example_pb2.Example.FromString(serialized) == F.encode_example({**profile, **rest}, CONTRACT)
