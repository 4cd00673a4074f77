"""The filter rules on five items, by hand: the dense and the flat form agree, and mean what they say."""

import numpy as np
import pytest
import tensorflow as tf

from msrec import features as F
from msrec import signatures as S
from trainer import filters, quantize

ITEMS = ["a", "b", "c", "d", "e"]
ROWS = [["category:x", "tag:1"], ["category:x"], ["category:y", "tag:1"], ["category:y"], []]
POSITION = tf.lookup.StaticHashTable(
    tf.lookup.KeyValueTensorInitializer(tf.constant(ITEMS), tf.range(5, dtype=tf.int64)), -1
)


def rules(include_items, exclude_items, include_attributes, exclude_attributes, exclude=None, blocked=None):
    attributes = filters.ItemAttributes(ROWS)
    given = dict(
        zip(S.FILTERS, (include_items, exclude_items, include_attributes, exclude_attributes), strict=True)
    )
    padded = {k: [row + [""] * (max(map(len, v)) - len(row)) for row in v] for k, v in given.items()}
    wanted = filters.request(POSITION, attributes, {k: tf.constant(v) for k, v in padded.items()})
    return filters.Rules(5, exclude, wanted, attributes, None if blocked is None else tf.constant(blocked))


def allowed(r, rows=2):
    dense = np.isfinite(r.dense(tf.zeros([rows, 5])).numpy())
    row, position = np.divmod(np.arange(rows * 5), 5)
    flat = np.isfinite(r.flat(tf.constant(row), tf.constant(position), tf.zeros([rows * 5])).numpy())
    np.testing.assert_array_equal(flat.reshape(rows, 5), dense)
    return [[ITEMS[i] for i in np.flatnonzero(line)] for line in dense]


def test_each_rule_keeps_what_it_says_and_empty_rows_set_none():
    pad = [[""], [""]]
    assert allowed(rules([["a", "c"], [""]], pad, pad, pad)) == [["a", "c"], ITEMS]
    assert allowed(rules(pad, [["a", "zz"], ["e", ""]], pad, pad)) == [
        ["b", "c", "d", "e"],
        ["a", "b", "c", "d"],
    ]
    assert allowed(rules(pad, pad, [["tag:1", ""], ["category:y", "category:x"]], pad)) == [
        ["a", "c"],
        ITEMS[:4],
    ]
    assert allowed(rules(pad, pad, pad, [["category:x"], ["tag:1"]])) == [["c", "d", "e"], ["b", "d", "e"]]


def test_rules_combine_and_unknown_names_match_nothing():
    # Row 0: among a, b, d, items of category x without tag 1: b. Row 1: an unknown attribute only.
    r = rules([["a", "b", "d"], [""]], [[""], [""]], [["category:x"], ["category:zz"]], [["tag:1"], [""]])
    assert allowed(r) == [["b"], []]


def test_exclusions_and_the_block_list_apply_to_every_row():
    pad = [[""], [""]]
    exclude = tf.constant([[0, 1], [1, 3]], tf.int64)
    r = rules(pad, pad, pad, pad, exclude=exclude, blocked=[False, False, True, False, False])
    assert allowed(r) == [["a", "d", "e"], ["a", "b", "e"]]


def test_attribute_rows_come_from_the_categorical_candidate_features_only():
    contract = F.contract(F.Lengths())
    features = {
        F.ITEM_ID: np.array([b"a", b"b"], dtype=object),
        F.ITEM_CATEGORIES: np.array([[b"Drama", b""], [b"", b""]], dtype=object),
        F.ITEM_TAGS: np.array([[b"noir", b"rain"], [b"", b""]], dtype=object),
        F.ITEM_TITLE_TOKENS: np.array([[b"night", b""], [b"", b""]], dtype=object),
    }
    assert filters.attribute_rows(features, contract) == [["category:Drama", "tag:noir", "tag:rain"], []]


@pytest.mark.parametrize("storage, error", [("float32", 0.0), ("float16", 1e-3), ("int8", 1 / 127)])
def test_stored_item_vectors_stay_within_their_rounding(storage, error):
    vectors = np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32)
    stored = quantize.ItemVectors(vectors, storage)
    scale = np.abs(vectors).max(axis=1, keepdims=True)
    assert np.all(np.abs(stored.dense().numpy() - vectors) <= error * scale + 1e-7)
    np.testing.assert_allclose(stored.gather(tf.constant([3, 7])).numpy(), stored.dense().numpy()[[3, 7]])
    queries = np.ones((2, 16), np.float32)
    np.testing.assert_allclose(
        stored.scores(queries).numpy(), queries @ stored.dense().numpy().T, rtol=1e-5, atol=1e-5
    )
    assert (
        stored.nbytes == {"float32": 50 * 16 * 4, "float16": 50 * 16 * 2, "int8": 50 * 16 + 50 * 4}[storage]
    )
