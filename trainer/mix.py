"""The ranking's mix, chosen on VALIDATION for the data at hand: never worse than one of its parts.

A user's score of an item is ``towers / temperature + w * evidence`` (``trainer/scoring.py``).
A fixed ``w`` chosen on other data can make the sum worse than either part alone (on a
sparse dataset the towers may be weak; on a dense one the evidence may be). ``choose``
scores VALIDATION once per part and ranks every candidate weight from those two matrices:
the towers alone (``w = 0``), mixes, and the evidence first (``w = EVIDENCE_FIRST``, 1e4:
the evidence leads and the towers, about 10 at most, only break its ties). The candidates
are plain weights, so what is chosen is exactly what the exported scorer computes. The
best weight by NDCG@10 is the model's; as the parts alone are candidates, the chosen mix is
at least as good as each of them on VALIDATION. It needs a model trained without
VALIDATION (``train.refit=false``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import metrics
from trainer import catalog, data
from trainer.catalog import decode
from trainer.scoring import Scorer

EVIDENCE_FIRST = 1e4
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, EVIDENCE_FIRST)


def parts(model: tf.keras.Model, data_dir: str, split: str = "validation", batch_size: int = 512):
    """Yields ``(towers [B, N], evidence [B, N], targets [B], excluded)`` per batch of ``split``."""
    tables = model.tables
    vectors = catalog.embed(model.candidate_tower, tables.catalog)
    scorer = Scorer(tables.catalog_ids, vectors, data.scoring_graph(data_dir), model.temperature, 1.0)
    position = {item: i for i, item in enumerate(tables.catalog_ids)}
    inputs = F.select(tables.contract, F.QUERY, F.CANDIDATE, F.EVAL)
    for batch in data.dataset(data_dir, split, inputs, batch_size):
        queries = model.query_tower(batch, training=False)
        towers = tf.matmul(queries, scorer.vectors, transpose_b=True).numpy() / scorer.temperature
        evidence = scorer.evidence(batch[F.HISTORY_ITEM_IDS]).numpy()
        targets = np.array([position[i] for i in decode(batch[F.ITEM_ID].numpy())])
        excluded = [
            [position[i] for i in decode(s) if i in position] for s in batch[F.SEEN_ITEM_IDS].to_list()
        ]
        yield towers, evidence, targets, excluded


def mixed(towers: np.ndarray, evidence: np.ndarray, weight: float) -> np.ndarray:
    """The scorer's sum in float32, as the exported model computes it."""
    return (towers + np.float32(weight) * evidence).astype(np.float32)


def choose(
    model: tf.keras.Model, data_dir: str, weights: Sequence[float] = WEIGHTS
) -> tuple[float, list[dict]]:
    """The weight with the best VALIDATION NDCG@10, and every candidate's metrics (a table)."""
    ranks: dict[float, list[np.ndarray]] = {w: [] for w in weights}
    for towers, evidence, targets, excluded in parts(model, data_dir):
        for weight in weights:
            ranks[weight].append(metrics.ranks(mixed(towers, evidence, weight), targets, excluded))
    table = [
        {"graph_score_weight": w, **metrics.summarize(np.concatenate(r) if r else np.zeros(0))}
        for w, r in ranks.items()
    ]
    best = max(table, key=lambda row: (row["NDCG@10"], row["HR@10"]))
    return best["graph_score_weight"], table
