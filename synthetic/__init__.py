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

import numpy as np

from synthetic import files
from synthetic.world import AGE_GROUPS, FILES, GENDERS, SyntheticSpec, build_world

__all__ = ["AGE_GROUPS", "FILES", "GENDERS", "SyntheticSpec", "generate"]


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
    # Independent streams, so e.g. a change to item content leaves the interactions unchanged.
    world_rng, items_rng, interactions_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(3)
    )
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
