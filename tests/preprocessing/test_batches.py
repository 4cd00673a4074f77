"""Interactions as columnar batches: the per-row rules of ``sources`` and ``split``, bucket by bucket."""

import pickle
import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from msrec import source_config as sources
from preprocessing import batches, split
from preprocessing.batches import Batch
from preprocessing.records import Interaction
from preprocessing.sources import DEAD, VALID, DropDuplicates, Row, check_sources


def row(path, line, user, item, ts=0, weight=1.0):
    raw = f"{user},{item},{ts},{weight}"
    return Row(path, line, raw, Interaction(user, item, ts, str(ts), weight))


def letters(dead, label):
    return dead | f"Letter{label}" >> beam.Map(lambda d: (d["file"], d["line"], d["reason"], d["detail"]))


def test_a_batch_pickles_whole_and_buckets_every_row_once():
    rows = [row("a.csv", n, f"u{n % 7}", f"i{n % 11}", n) for n in range(500)]
    batch = Batch.from_rows(rows)
    again = pickle.loads(pickle.dumps(batch))
    assert list(again.interactions()) == [r.record for r in rows]
    parts = list(batch.buckets("user"))
    assert sorted(line for _, b in parts for line in b.line.tolist()) == list(range(500))
    # A user is in one bucket only, and the same bucket in another batch.
    owner = {u: k for k, b in parts for u in set(b.user)}
    assert len(owner) == 7
    other = dict(Batch.from_rows(rows[::-1]).buckets("user"))
    assert all(u in set(other[k].user) for u, k in owner.items())


def test_duplicates_match_the_per_row_rule():
    # Out of order and across files and batches: the sort, not the arrival order, picks the first.
    rows = [
        row("b.csv", 2, "u1", "i1"),
        row("a.csv", 9, "u1", "i1"),
        row("a.csv", 3, "u2", "i3"),
        row("a.csv", 4, "u1", "i1"),
    ]
    expected_dead = [
        ("a.csv", 9, "duplicate", "same as a.csv:4"),
        ("b.csv", 2, "duplicate", "same as a.csv:4"),
    ]
    with TestPipeline() as p:
        batched = (
            p
            | "Batches" >> beam.Create([Batch.from_rows(rows[:2]), Batch.from_rows(rows[2:])])
            | "Batched" >> batches.DropDuplicates("interactions")
        )
        single = p | "Rows" >> beam.Create(rows) | "Single" >> DropDuplicates("interactions")
        kept = batched["valid"] | beam.FlatMap(lambda b: zip(b.path, b.line.tolist(), strict=False))
        assert_that(kept, equal_to([("a.csv", 3), ("a.csv", 4)]), label="KeepsFirst")
        assert_that(letters(batched["dead"], "Batched"), equal_to(expected_dead), label="Dead")
        assert_that(letters(single[DEAD], "Single"), equal_to(expected_dead), label="SameAsRows")


def test_references_dead_letter_once_for_the_first_broken_field():
    spec = sources.SourceSpec(
        path="r.csv",
        fields={"user_id": 0, "item_id": 1},
        references={"user_id": "users", "item_id": "items"},
    )
    rows = [
        row("r.csv", 1, "u1", "i1"),
        row("r.csv", 2, "u9", "i1"),  # unknown user
        row("r.csv", 3, "u1", "i9"),  # unknown item
        row("r.csv", 4, "u9", "i9"),  # both: one dead letter, for item_id (fields in sorted order)
    ]
    with TestPipeline() as p:
        read = {
            "interactions": {
                VALID: p | "I" >> beam.Create([Batch.from_rows(rows)]),
                DEAD: p | "NoDeadI" >> beam.Create([]),
            },
            "users": {
                VALID: p | "U" >> beam.Create([Row("u", 1, "u1", sources_user("u1"))]),
                DEAD: p | "NoDeadU" >> beam.Create([]),
            },
            "items": {
                VALID: p | "It" >> beam.Create([Row("t", 1, "i1", sources_item("i1"))]),
                DEAD: p | "NoDeadIt" >> beam.Create([]),
            },
        }
        specs = {"interactions": spec, "users": sources.SourceSpec(path="u", fields={"user_id": 0})}
        specs["items"] = sources.SourceSpec(path="t", fields={"item_id": 0})
        out = check_sources(read, specs)
        valid = out["interactions"][VALID] | beam.FlatMap(lambda b: b.line.tolist())
        assert_that(valid, equal_to([1]), label="Valid")
        expected = [
            ("r.csv", 2, "unknown_reference", "user_id='u9' is not in users"),
            ("r.csv", 3, "unknown_reference", "item_id='i9' is not in items"),
            ("r.csv", 4, "unknown_reference", "item_id='i9' is not in items"),
        ]
        assert_that(letters(out["interactions"][DEAD], "Ref"), equal_to(expected), label="Dead")


def sources_user(user):
    from preprocessing.records import User

    return User(user, ())


def sources_item(item):
    from preprocessing.records import Item

    return Item(item, (), (), ())


def test_a_bucket_splits_every_user_as_split_user_does():
    rng = random.Random(3)
    rows, lines = [], 0
    for u in range(40):
        for _ in range(rng.randint(1, 12)):
            lines += 1  # few items and times: duplicates of a pair and timestamp ties both occur
            ts = rng.choice([0, 5, 5, 9, 20])
            rows.append(
                row(rng.choice("xy") + ".csv", lines, f"u{u}", f"i{rng.randint(0, 6)}", ts, rng.randint(1, 5))
            )
    rng.shuffle(rows)
    got = {t.user: t for t in split.split_bucket([Batch.from_rows(rows[:70]), Batch.from_rows(rows[70:])])}
    by_user = {}
    # Copies of a pair with equal times keep the first by file and line;
    # split_user keeps the first it is given.
    for r in sorted(rows, key=lambda r: (r.path, r.line)):
        by_user.setdefault(r.record.user, []).append(r.record)
    assert sorted(got) == sorted(by_user)
    for user, records in by_user.items():
        want = split.split_user(user, records)
        have = got[user]
        assert have.train == want.train and have.validation == want.validation and have.test == want.test
        assert have.train_items == tuple(it.item for it in want.train)
