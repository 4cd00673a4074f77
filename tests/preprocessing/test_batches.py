"""Rows as columnar batches: pickling, buckets, and ``split``'s per-user rule bucket by bucket."""

import pickle
import random

import numpy as np

from preprocessing import split
from preprocessing.batches import Batch
from preprocessing.records import Interaction, Item
from preprocessing.rows import Row


def row(path, line, user, item, ts=0, weight=1.0):
    raw = f"{user},{item},{ts},{weight}"
    return Row(path, line, raw, Interaction(user, item, ts, str(ts), weight))


def test_a_batch_pickles_whole_and_buckets_every_row_once():
    rows = [row("a.csv", n, f"u{n % 7}", f"i{n % 11}", n) for n in range(500)]
    batch = Batch.from_rows(rows)
    again = pickle.loads(pickle.dumps(batch))
    assert list(again.records()) == [r.record for r in rows]
    parts = list(batch.buckets("user"))
    assert sorted(line for _, b in parts for line in b.line.tolist()) == list(range(500))
    # A user is in one bucket only, and the same bucket in another batch.
    owner = {u: k for k, b in parts for u in set(b.user)}
    assert len(owner) == 7
    other = dict(Batch.from_rows(rows[::-1]).buckets("user"))
    assert all(u in set(other[k].user) for u, k in owner.items())


def test_a_batch_of_items_keeps_each_record_whole():
    items = [Item("a", ("rock", "pop"), ("loud",), ()), Item("b", ("jazz",), (), ("blue",), "Blue Train")]
    rows = [Row("t.csv", n, "", item) for n, item in enumerate(items)]
    batch = pickle.loads(pickle.dumps(Batch.from_rows(rows)))
    assert list(batch.records()) == items  # a row's tuple stays one value, not a column of its own
    assert batch.categories.tolist() == [("rock", "pop"), ("jazz",)]
    assert list(batch.take(np.array([1])).records()) == items[1:]


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
