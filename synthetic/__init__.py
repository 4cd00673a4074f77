"""Synthetic multi-source data: the embedded default dataset and the scale-test source.

Sits before the pipeline and outside it: ``generate`` writes the four raw files a user
would bring (``interactions.csv``, ``items.jsonl``, ``users.csv``, ``social.csv``), which
the Beam preprocessing then reads like any other input (no pipeline module imports this
package). ``world`` simulates the hidden process; ``files`` writes it out. Output is
byte-identical for a given spec.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from synthetic import files, topics
from synthetic.world import AGE_GROUPS, FILES, GENDERS, SyntheticSpec, build_world

__all__ = [
    "AGE_GROUPS",
    "FILES",
    "GENDERS",
    "SyntheticSpec",
    "Topic",
    "favourite_topics",
    "generate",
    "new_item",
]


class Topic(NamedTuple):
    """A user's favourite topic in the hidden world: primary cluster, preferred niche there."""

    cluster: int
    niche: int
    weight: float  # the share of the user's taste draws that pick this cluster
    name: str  # ``noir / courtroom``


def _streams(spec: SyntheticSpec) -> tuple[np.random.Generator, ...]:
    # Independent streams, so e.g. a change to item content leaves the interactions unchanged.
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(3))


def generate(
    output_dir: str,
    spec: SyntheticSpec = SyntheticSpec(),  # noqa: B008 - frozen dataclass, safe as a default
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Writes the four source files into ``output_dir`` (created if missing).

    Args:
      output_dir: a local directory; existing files of the same names are overwritten.
      spec: sizes, seed and knobs of the hidden process.
      progress: called as ``progress(done, total)`` after each chunk of interactions.

    Returns:
      Rows written per source, keyed like ``FILES`` (headers not counted).
    """
    os.makedirs(output_dir, exist_ok=True)
    world_rng, items_rng, interactions_rng = _streams(spec)
    world = build_world(spec, world_rng)
    path = {source: os.path.join(output_dir, name) for source, name in FILES.items()}
    files.write_users(path["users"], world, spec)
    files.write_items(path["items"], world, spec, items_rng)
    files.write_social(path["social"], world, spec)
    written = files.write_interactions(path["interactions"], world, spec, interactions_rng, progress)
    return {
        "interactions": written,
        "items": spec.num_items,
        "users": spec.num_users,
        "social": len(world.edges),
    }


def favourite_topics(spec: SyntheticSpec = SyntheticSpec()) -> dict[str, Topic]:  # noqa: B008
    """Every user's favourite topic, by user id, in the world ``generate`` writes for ``spec``."""
    tastes, user_id = build_world(spec, _streams(spec)[0]).tastes, files._ids("u", spec.num_users)
    return {
        user_id(u): Topic(int(c), int(n), float(w), topics.topic_name(c, n))
        for u, (c, n, w) in enumerate(
            zip(tastes.primary, tastes.niche_primary, tastes.w_primary, strict=True)
        )
    }


def new_item(spec: SyntheticSpec, topic: Topic, item_id: str, seed: int = 0) -> dict[str, Any]:
    """An item nobody has met, written like ``items.jsonl``'s, wholly of ``topic``.

    Its category is the topic's cluster, its tags four of the cluster's tag pool and its
    title and description speak only the topic's theme and niche.
    """
    rng = np.random.default_rng(seed)
    ((title, description),) = topics.describe(
        np.array([topic.cluster]), np.array([topic.niche]), rng, pure=True
    )
    pool = np.arange(topic.cluster, spec.num_tags, spec.num_categories)  # tags j with j % k == cluster
    category_id, tag_id = files._ids("c", spec.num_categories), files._ids("t", spec.num_tags)
    return {
        "item_id": item_id,
        "categories": [category_id(topic.cluster)],
        "tags": [tag_id(t) for t in rng.permutation(pool)[:4]],
        "title": title,
        "description": description,
    }
