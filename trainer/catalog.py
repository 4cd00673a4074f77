"""The catalog as the trainer sees it: every item's candidate features, and their tower vectors.

Evaluation, scoring and export all rank the same items in the same order, so
the order is fixed here (sorted by item id) and nowhere else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec.datadir import DataDir
from trainer import data


def decode(values: Any) -> list[str]:
    """Strings from a tensor's bytes (or anything printable)."""
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def read(source: DataDir, contract: tuple[F.Feature, ...]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Catalog item ids and their candidate features, in a fixed order."""
    values = data.load_all(source, "candidates", F.select(contract, F.CANDIDATE))
    order = np.argsort(values[F.ITEM_ID], kind="stable")
    values = {k: v[order] for k, v in values.items()}
    return decode(values[F.ITEM_ID]), values


def embed(tower: tf.keras.Model, values: dict[str, np.ndarray], batch_size: int = 4096) -> np.ndarray:
    """Runs a tower over a dict of equally long arrays in batches."""
    n = len(next(iter(values.values())))
    parts = [
        tower({k: v[i : i + batch_size] for k, v in values.items()}, training=False).numpy()
        for i in range(0, n, batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
