"""PROTOCOL.md's split and fingerprint, on rows small enough to check by hand."""

import hashlib

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocessing import batches, split
from preprocessing.batches import Batch
from preprocessing.records import Interaction


def it(user, item, ts, weight=1.0):
    return Interaction(user, item, ts, str(ts), weight)


def test_last_goes_to_test_second_last_to_validation():
    t = split.split_user("u", [it("u", "c", 30), it("u", "a", 10), it("u", "d", 40), it("u", "b", 20)])
    assert [x.item for x in t.train] == ["a", "b"]
    assert (t.validation.item, t.test.item) == ("c", "d")


def test_users_with_fewer_than_three_stay_in_train():
    t = split.split_user("u", [it("u", "a", 1), it("u", "b", 2)])
    assert len(t.train) == 2 and t.validation is None and t.test is None


def test_duplicates_merge_into_the_earliest():
    t = split.split_user(
        "u", [it("u", "a", 50, 5.0), it("u", "b", 20), it("u", "a", 10, 1.0), it("u", "c", 30)]
    )
    assert [x.item for x in t.train] == ["a"]
    assert t.train[0].weight == 1.0  # the earliest row is the one kept


def test_timestamp_ties_break_by_sha1_of_user_tab_item():
    rows = [it("7", item, 0) for item in ("x", "y", "z", "w")]
    order = sorted("xyzw", key=lambda i: hashlib.sha1(f"7\t{i}".encode()).hexdigest())
    t = split.split_user("7", rows)
    assert [x.item for x in t.train] + [t.validation.item, t.test.item] == order


def test_fingerprint_sorts_lines_and_hashes_them():
    lines = ["u2\ti1\t5\n", "u10\ti3\t7\n"]
    expected = hashlib.sha256(b"u10\ti3\t7\nu2\ti1\t5\n").hexdigest()
    assert split.fingerprint(lines) == expected


def test_split_by_user_in_beam_gives_timelines_and_packed_batches_of_them():
    rows = [it("a", "i1", 1), it("a", "i2", 2), it("a", "i3", 3), it("b", "i1", 5)]
    # Two batches, one user's rows in both: the shuffle brings them together.
    parts = [[rows[2], rows[3]], [rows[0], rows[1]]]
    data = [Batch.from_rows([("f.csv", n, "", r) for n, r in enumerate(part)]) for part in parts]
    summary = lambda t: (t.user, len(t.train), t.test.item if t.test else None)  # noqa: E731
    expected = [("a", 1, "i3"), ("b", 1, None)]
    with TestPipeline() as p:
        out = p | beam.Create(data) | split.SplitByUser()
        assert_that(out["timelines"] | "Timelines" >> beam.Map(summary), equal_to(expected), label="Users")
        unpacked = out["user_batches"] | beam.FlatMap(lambda blob: map(summary, batches.unpacked(blob)))
        assert_that(unpacked, equal_to(expected), label="Batches")
