"""The synthetic dataset's files: the raw formats users bring, written fast and in chunks.

``synthetic/world.py`` simulates the hidden process; this module turns
its world into ``interactions.csv``, ``items.jsonl``, ``users.csv`` and
``social.csv`` (formats in ``synthetic.world.FILES``' docstring), vectorised so that
ten million interactions take seconds, not minutes. Item titles and descriptions are
written from ``synthetic/topics.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import numpy as np

from synthetic import topics
from synthetic.world import (
    AGE_GROUPS,
    CHUNK_ROWS,
    GENDERS,
    SEEN_BUFFER,
    SyntheticSpec,
    World,
    draw_activity,
    draw_timestamps,
    draw_weights,
    simulate,
)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal ASCII of non-negative ints, as a (len(values), width) uint8 array."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def _fixed_rows(n: int, parts: list[bytes | np.ndarray]) -> bytes:
    """Joins constant byte strings and per-row ASCII columns into n fixed-width lines."""
    columns = [np.tile(np.frombuffer(p, np.uint8), (n, 1)) if isinstance(p, bytes) else p for p in parts]
    return np.concatenate(columns, axis=1).tobytes()


def _width(count: int) -> int:
    return len(str(count - 1))


def _ids(prefix: str, count: int) -> Callable[[int], str]:
    width = _width(count)
    return lambda i: f"{prefix}{i:0{width}d}"


def write_interactions(path, world, spec, rng, progress) -> int:
    """Simulates chunks of users and appends their rows; returns the number of rows written."""
    counts = draw_activity(spec, rng)
    chunk = max(1, min(SEEN_BUFFER // spec.num_items, CHUNK_ROWS * spec.num_users // spec.num_interactions))
    seen = np.zeros((min(chunk, spec.num_users), spec.num_items), bool)
    # Chunks of equally active users keep the lockstep short: a chunk takes max(counts) steps.
    by_activity = np.argsort(-counts, kind="stable")
    wu, wi, done = _width(spec.num_users), _width(spec.num_items), 0
    with open(path, "wb") as f:
        f.write(b"user_id,item_id,timestamp,weight\n")
        for lo in range(0, spec.num_users, chunk):
            users = by_activity[lo : lo + chunk]
            items = simulate(world, spec, users, counts[users], seen, rng)
            owner = np.repeat(users, counts[users])
            tidy = np.argsort(owner, kind="stable")  # rows by user id within the chunk
            owner, items = owner[tidy], items[tidy]
            milli = draw_weights(world, spec, owner, items, rng)
            f.write(_fixed_rows(len(items), [
                b"u", _digits(owner, wu), b",i", _digits(items, wi), b",",
                _digits(draw_timestamps(counts[np.sort(users)], rng), 10), b",",
                _digits(milli // 1000, 1), b".", _digits(milli % 1000, 3), b"\n",
            ]))  # fmt: skip
            done += len(items)
            if progress is not None:
                progress(done, spec.num_interactions)
    return done


def _item_tags(cluster: np.ndarray, spec: SyntheticSpec, rng) -> np.ndarray:
    """Six distinct tags per item, mostly from its cluster's pool (tags j with j % k == cluster)."""
    t, noise = spec.num_tags, spec.content_noise
    pool = np.arange(t)[None, :] % spec.num_categories == cluster[:, None]
    size = pool.sum(axis=1, keepdims=True)
    logits = np.log(np.where(pool, (1 - noise) / size, max(noise, 1e-9) / (t - size)))
    # Gumbel top-k: a draw without replacement for every item in one argsort.
    return np.argsort(-(logits + rng.gumbel(size=logits.shape)), axis=1)[:, :6]


def _item_records(world: World, spec: SyntheticSpec, items: np.ndarray, rng) -> Iterator[dict]:
    """The items.jsonl records of ``items``: 1-2 categories, 2-6 tags, a title and a description."""
    n, cluster, niche = len(items), world.catalog.cluster[items], world.catalog.niche[items]
    first = np.where(rng.random(n) < spec.content_noise, rng.integers(spec.num_categories, size=n), cluster)
    second = np.where(rng.random(n) < 0.3, rng.integers(spec.num_categories, size=n), first)  # cross-listing
    tags, num_tags = _item_tags(cluster, spec, rng), rng.integers(2, 7, size=n)
    texts = topics.describe(cluster, niche, rng)
    item_id, category_id, tag_id = (
        _ids("i", spec.num_items),
        _ids("c", spec.num_categories),
        _ids("t", spec.num_tags),
    )
    for j, i in enumerate(items):
        yield {
            "item_id": item_id(i),
            "categories": [category_id(c) for c in dict.fromkeys((first[j], second[j]))],
            "tags": [tag_id(t) for t in tags[j, : num_tags[j]]],
            "title": texts[j][0],
            "description": texts[j][1],
        }


def write_items(path: str, world: World, spec: SyntheticSpec, rng) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for lo in range(0, spec.num_items, 20_000):  # bounds the (items x tags) Gumbel matrix
            items = np.arange(lo, min(lo + 20_000, spec.num_items))
            f.writelines(json.dumps(record) + "\n" for record in _item_records(world, spec, items, rng))


def write_users(path, world, spec) -> None:
    user_id, country_id = _ids("u", spec.num_users), _ids("c", spec.num_countries)
    with open(path, "w", encoding="utf-8") as f:
        f.write("user_id,age_group,gender,country\n")
        for u, (a, g, c) in enumerate(world.profiles.tolist()):
            f.write(f"{user_id(u)},{AGE_GROUPS[a]},{GENDERS[g]},{country_id(c)}\n")


def write_social(path, world, spec) -> None:
    w = _width(spec.num_users)
    with open(path, "wb") as f:
        f.write(b"user_id,friend_id\n")
        n = len(world.edges)
        f.write(
            _fixed_rows(n, [b"u", _digits(world.edges[:, 0], w), b",u", _digits(world.edges[:, 1], w), b"\n"])
        )
