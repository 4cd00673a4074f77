"""What the friends' evidence term would cost inside a SavedModel: its tables and its time per request.

``bench/social_signals.py`` measures whether the term helps; this measures what serving it would cost
at a given scale (by default the scale test's largest: 625,000 users, 500,000 items, 40 known items a
user, so 25 M interactions, and the 20 friends a user keeps), with only the core TF ops the scorer
already uses (gather, ragged range, scatter), so stock TF Serving would load it. The tables:

* ``friend_rows`` ``[users, F]`` int32: the rows of each user's friends in the export's user table
  (-1: no friend there), and ``friend_weights`` ``[users, F]`` float32: their tie strengths normalised
  to sum 1. The export's user table holds both already, as friend ids and raw weights
  (``trainer.tables.UserRows.features``); resolving the ids to rows once at export saves a hash
  lookup per friend per request.
* ``known_splits`` ``[users + 1]`` int64 and ``known_items`` ``[known pairs]`` int32: each user's known
  items as catalog positions, which the export already holds to exclude them
  (``UserRows.known_positions``).

A request of B users gathers its friends, their known-item ranges, and scatter-adds the weights into
``[B, catalog]`` scores; friends of friends repeat the hop with products of weights (``decay``).
Tables are random (items drawn Zipf-like), and the time is the median of ``--repeats`` calls.

    python bench/social_cost.py --output runs/social-cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def one_hop(
    rows: tf.Tensor, weights: tf.Tensor, splits: tf.Tensor, items: tf.Tensor, catalog: int
) -> tf.Tensor:
    """``[B, catalog]``: per request row, the sum over its ``rows`` (``[B, K]``, -1 for none) of their
    ``weights`` at each of that user's known items."""
    batch, k = tf.shape(rows)[0], tf.shape(rows)[1]
    flat = tf.reshape(rows, [-1])
    safe = tf.maximum(flat, 0)
    starts = tf.gather(splits, safe)
    limits = tf.where(flat >= 0, tf.gather(splits, safe + 1), starts)  # no friend: an empty range
    positions = tf.ragged.range(starts, limits)
    owner = tf.cast(positions.value_rowids(), tf.int32)  # which (request row, friend) a known item is of
    found = tf.gather(items, positions.flat_values)
    value = tf.gather(tf.reshape(weights, [-1]), owner)
    where = tf.stack([owner // k, found], axis=1)
    return tf.tensor_scatter_nd_add(tf.zeros([batch, catalog]), where, value)


def friends_evidence(users, friend_rows, friend_weights, splits, items, catalog: int, decay: float):
    """The friends' evidence of the request's user rows (``users`` ``[B]``), with ``decay`` times the
    friends of friends' (weights multiplied along the two ties)."""
    rows, weights = tf.gather(friend_rows, users), tf.gather(friend_weights, users)
    scores = one_hop(rows, weights, splits, items, catalog)
    if decay:
        batch, has = tf.shape(users)[0], rows[:, :, None] >= 0
        safe = tf.maximum(rows, 0)
        second = tf.where(has, tf.gather(friend_rows, safe), -1)  # [B, F, F]
        carried = tf.where(has, weights[:, :, None] * tf.gather(friend_weights, safe), 0.0)
        flat = lambda t: tf.reshape(t, [batch, -1])  # noqa: E731
        scores += decay * one_hop(flat(second), flat(carried), splits, items, catalog)
    return scores


def tables(users: int, items: int, per_user: int, friends: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random tables of the given scale: ``per_user`` known items a user (Zipf-like over the catalog),
    ``friends`` friends a user with random tie weights normalised to sum 1."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    known = rng.choice(items, size=users * per_user, p=popularity / popularity.sum()).astype(np.int32)
    weights = rng.random((users, friends), dtype=np.float32) + 0.1
    return {
        "friend_rows": rng.integers(0, users, size=(users, friends), dtype=np.int32),
        "friend_weights": weights / weights.sum(axis=1, keepdims=True),
        "known_splits": np.arange(0, users * per_user + 1, per_user, dtype=np.int64),
        "known_items": known,
    }


def measure(found: dict[str, np.ndarray], catalog: int, batches: tuple[int, ...], repeats: int) -> dict:
    """Median milliseconds per request of each batch size, without and with friends of friends."""
    held = {name: tf.constant(value) for name, value in found.items()}
    rng, out = np.random.default_rng(1), {}
    for decay in (0.0, 0.5):
        fn = tf.function(
            lambda u, d=decay: friends_evidence(
                u,
                held["friend_rows"],
                held["friend_weights"],
                held["known_splits"],
                held["known_items"],
                catalog,
                d,
            )
        )
        for batch in batches:
            times = []
            for _ in range(repeats + 1):  # the first call traces
                users = tf.constant(rng.integers(0, len(found["friend_rows"]), batch, dtype=np.int32))
                t0 = time.perf_counter()
                fn(users).numpy()
                times.append(time.perf_counter() - t0)
            out[f"B={batch}, decay {decay:g}"] = round(1000 * float(np.median(times[1:])), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=625_000)
    p.add_argument("--items", type=int, default=500_000)
    p.add_argument("--per-user", type=int, default=40, help="known items a user")
    p.add_argument("--friends", type=int, default=20, help="friends a user keeps (lengths.friends)")
    p.add_argument("--batches", default="1,32", help="request sizes (users)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=1, help="TF intra-op threads")
    p.add_argument("--output", required=True)
    args = p.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    found = tables(args.users, args.items, args.per_user, args.friends)
    result = {
        "scale": {k: getattr(args, k) for k in ("users", "items", "per_user", "friends")},
        "table_bytes": {name: int(value.nbytes) for name, value in found.items()},
        "ms_per_request": measure(
            found, args.items, tuple(int(b) for b in args.batches.split(",")), args.repeats
        ),
        "threads": args.threads,
        "command": "python bench/social_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
