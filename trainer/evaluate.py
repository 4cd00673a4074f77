"""Full-catalog evaluation of a trained model and of the popularity baseline.

The catalog is the ``candidates`` records (every item id of the interaction
source); each held-out example carries the user's excluded items in
``seen_item_ids``. Both systems are ranked by the same code (``metrics.ranks``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from trainer import data, metrics


def _decode(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def catalog(data_dir: str, contract: tuple[F.Feature, ...]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Catalog item ids and their candidate features, in a fixed order."""
    values = data.load_all(data_dir, "candidates", F.select(contract, F.CANDIDATE))
    order = np.argsort(values[F.ITEM_ID], kind="stable")
    values = {k: v[order] for k, v in values.items()}
    return _decode(values[F.ITEM_ID]), values


def embed(tower: tf.keras.Model, values: dict[str, np.ndarray], batch_size: int = 4096) -> np.ndarray:
    """Runs a tower over a dict of equally long arrays in batches."""
    n = len(next(iter(values.values())))
    parts = [
        tower({k: v[i : i + batch_size] for k, v in values.items()}, training=False).numpy()
        for i in range(0, n, batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def evaluate(model: tf.keras.Model, data_dir: str, split: str = "test", batch_size: int = 512) -> dict:
    """PROTOCOL.md metrics of ``model`` and of MostPopular (TRAIN counts) on ``split``."""
    contract = data.contract(data_dir)
    item_ids, candidates = catalog(data_dir, contract)
    position = {item: i for i, item in enumerate(item_ids)}
    item_vectors = embed(model.candidate_tower, candidates)
    counts = data.item_popularity(data_dir)
    popularity = np.array([counts.get(item, 0) for item in item_ids], np.float64)
    inputs = F.select(contract, F.QUERY, F.CANDIDATE, F.EVAL)
    model_ranks, popular_ranks = [], []
    for batch in data.dataset(data_dir, split, inputs, batch_size):
        queries = model.query_tower(batch, training=False).numpy()
        targets = np.array([position[i] for i in _decode(batch[F.ITEM_ID].numpy())])
        excluded = [
            [position[i] for i in _decode(seen) if i in position] for seen in batch[F.SEEN_ITEM_IDS].to_list()
        ]
        model_ranks.append(metrics.ranks(queries @ item_vectors.T, targets, excluded))
        tiled = np.broadcast_to(popularity, (len(targets), len(popularity)))
        popular_ranks.append(metrics.ranks(tiled, targets, excluded))
    join = lambda parts: np.concatenate(parts) if parts else np.zeros(0)
    return {
        "split": split,
        "catalog_items": len(item_ids),
        "model": metrics.summarize(join(model_ranks)),
        "popularity": metrics.summarize(join(popular_ranks)),
    }
