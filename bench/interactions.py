"""A preprocessed split as numpy arrays: what ``bench/peers.py`` and ``bench/social_signals.py`` read.

Reads the GZIP tf.Example records ``msrec preprocess`` wrote (parsed with the contract in
``metadata.json``) and turns them into catalog and user indices: TRAIN pairs, the VALIDATION and
TEST targets with their excluded items, and per-user histories (``Interactions``, CSR-like, never
a dense user x item matrix). numpy, and TensorFlow only to parse the records.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from msrec import features as F


class Split:
    """One split's examples as catalog indices: users, target items, excluded items."""

    def __init__(self, users: list[str], targets: np.ndarray, seen: list[np.ndarray]):
        self.users, self.targets, self.seen = users, targets, seen


def records(data_dir: str, name: str, wanted: Sequence[str]) -> dict[str, list]:
    """Every ``name`` record's ``wanted`` features, parsed with the contract of metadata.json: strings
    decoded, numbers as they are (a list per record for sequences)."""
    import tensorflow as tf

    try:  # one thread reads as fast here; TensorFlow refuses once a process has started it
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already started (a test process, a caller): keep its threads
    with open(os.path.join(data_dir, "metadata.json")) as f:
        contract = F.by_name(F.from_dict(json.load(f)["features"]))
    features = [contract[w] for w in wanted]
    files = sorted(tf.io.gfile.glob(os.path.join(data_dir, name, "part-*.tfrecord.gz")))
    if not files:
        raise SystemExit(f"bench: no {name} records under {data_dir}")
    spec = F.parse_spec(features)
    out: dict[str, list] = {w: [] for w in wanted}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192)
    for batch in ds.map(lambda b: tf.io.parse_example(b, spec)):
        for f in features:
            value = batch[f.name]
            rows = value.to_list() if isinstance(value, tf.RaggedTensor) else value.numpy().tolist()
            if f.dtype == F.STRING:
                rows = [[v.decode() for v in r] if isinstance(r, list) else r.decode() for r in rows]
            out[f.name].extend(rows)
    return out


def held_out(data_dir: str, name: str, index: dict[str, int], user_index: dict[str, int]) -> Split:
    """The ``name`` split (``validation`` or ``test``) as catalog indices."""
    rec = records(data_dir, name, [F.USER_ID, F.ITEM_ID, F.SEEN_ITEM_IDS])
    missing = [u for u in rec[F.USER_ID] if u not in user_index]
    if missing:  # every evaluated user has TRAIN rows (PROTOCOL.md: at least one)
        raise SystemExit(f"bench: {len(missing)} evaluated users have no TRAIN records")
    return Split(
        rec[F.USER_ID],
        np.array([index[i] for i in rec[F.ITEM_ID]], dtype=np.int64),
        [np.array([index[i] for i in seen], dtype=np.int64) for seen in rec[F.SEEN_ITEM_IDS]],
    )


def load(data_dir: str, test: bool = True):
    """(catalog ids, user index, train pairs, validation Split, test Split or None when not ``test``)."""
    catalog = sorted(set(records(data_dir, "candidates", [F.ITEM_ID])[F.ITEM_ID]))
    index = {item: i for i, item in enumerate(catalog)}
    train = records(data_dir, "train", [F.USER_ID, F.ITEM_ID])
    users = sorted(set(train[F.USER_ID]))
    user_index = {u: i for i, u in enumerate(users)}
    pairs = np.array(
        [(user_index[u], index[i]) for u, i in zip(train[F.USER_ID], train[F.ITEM_ID], strict=True)],
        dtype=np.int64,
    ).reshape(-1, 2)
    validation = held_out(data_dir, "validation", index, user_index)
    return (
        catalog,
        user_index,
        pairs,
        validation,
        held_out(data_dir, "test", index, user_index) if test else None,
    )


class Interactions:
    """Implicit user-item pairs as per-user histories (CSR-like), never a dense user x item matrix."""

    def __init__(self, num_users: int, num_items: int, pairs: np.ndarray):
        pairs = np.unique(pairs, axis=0)  # one distinct (user, item) per row, sorted by user
        self.num_users, self.num_items = num_users, num_items
        self.users, self.items_of = pairs[:, 0], pairs[:, 1]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.users, minlength=num_users))])
        self.items = np.flatnonzero(np.bincount(self.items_of, minlength=num_items))  # with interactions

    def history(self, user: int) -> np.ndarray:
        return self.items_of[self.indptr[user] : self.indptr[user + 1]]

    def popularity(self) -> np.ndarray:
        return np.bincount(self.items_of, minlength=self.num_items).astype(np.float32)

    def gram(self) -> np.ndarray:
        """X^T X over ``self.items`` (float32), accumulated from each user's item pairs."""
        position = np.full(self.num_items, -1, dtype=np.int64)
        position[self.items] = np.arange(len(self.items))
        n = len(self.items)
        gram = np.zeros(n * n, dtype=np.float32)
        chunk: list[np.ndarray] = []
        size = 0
        for user in range(self.num_users):
            h = position[self.history(user)]
            if len(h):
                chunk.append((h[:, None] * n + h[None, :]).ravel())
                size += len(h) ** 2
            if size > 5_000_000 or (user == self.num_users - 1 and chunk):
                flat = np.concatenate(chunk)
                gram += np.bincount(flat, minlength=n * n).astype(np.float32)
                chunk, size = [], 0
        return gram.reshape(n, n)


def with_split(pairs: np.ndarray, split: Split, user_index: dict[str, int]) -> np.ndarray:
    """TRAIN pairs plus the split's (user, target) pairs: TRAIN + VALIDATION for the refit."""
    extra = np.stack([np.array([user_index[u] for u in split.users]), split.targets], axis=1)
    return np.concatenate([pairs, extra.astype(np.int64)])


def described(data_dir: str) -> dict:
    """What a result names its data by: the directory, the dataset and the test split's fingerprint."""
    with open(os.path.join(data_dir, "metadata.json")) as f:
        meta = json.load(f)
    return {
        "data": os.path.abspath(data_dir),
        "dataset": meta.get("dataset") or meta.get("name"),
        "fingerprint": meta.get("test_split_sha256"),
    }
