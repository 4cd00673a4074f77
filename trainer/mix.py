"""The ranking's mix, chosen on VALIDATION for the data at hand: never worse than one of its parts.

A user's score of an item is ``towers / temperature + w * evidence``, plus for cold items
``c * text_z + b`` (``trainer/scoring.py``).
A fixed ``w`` chosen on other data can make the sum worse than either part alone (on a
sparse dataset the towers may be weak; on a dense one the evidence may be). ``choose``
scores VALIDATION once per part and ranks every candidate weight from those two matrices:
the towers alone (``w = 0``), mixes, and the evidence first (``w = EVIDENCE_FIRST``, 1e4:
the evidence leads and the towers, about 10 at most, only break its ties). The candidates
are plain weights, so what is chosen is exactly what the exported scorer computes. The
best weight by NDCG@10 is the model's; as the parts alone are candidates, the chosen mix is
at least as good as each of them on VALIDATION. With item text, each weight is tried with every
cold-text setting in ``COLD`` (``(0, 0)``: off), so items no TRAIN user met (VALIDATION targets
among them) compete on their text. It needs a model trained without VALIDATION
(``train.refit=false``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import metrics
from msrec.datadir import DataDir
from trainer import catalog, data, scoring
from trainer.catalog import decode
from trainer.scoring import Ranking, Scorer

EVIDENCE_FIRST = 1e4
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, EVIDENCE_FIRST)
# (cold_text_weight, cold_text_offset): off, then how strongly text counts and how far it must stand out.
COLD = ((0.0, 0.0),) + tuple((c, b) for c in (2.0, 4.0, 6.0) for b in (-5.0, -10.0, -15.0, -20.0))
KEYS = ("graph_score_weight", "cold_text_weight", "cold_text_offset")


def parts(
    model: tf.keras.Model,
    ranking: Ranking,
    source: DataDir,
    split: str = "validation",
    batch_size: int = 512,
    cold: scoring.ColdText | None = None,
):
    """Yields ``(towers [B, N], evidence [B, N], cold_z [B, C] or None, targets [B], excluded)``
    per batch of ``split``; the ``C`` columns are ``cold.positions`` (default: the model's
    ``scoring.cold_text`` with weight 1 and offset 0). The evidence is that of the model's own
    scoring graph (over the data it learned from), the towers' scores divided by the ranking's
    temperature."""
    tables = model.tables
    vectors = catalog.embed(model.candidate_tower, tables.catalog)
    if cold is None:
        cold = scoring.cold_text(model, tables.catalog_ids, 1.0, 0.0, ranking.cold_words)
    graph = scoring.graph_of(tables, dataclasses.replace(ranking, graph_weight=1.0))
    scorer = Scorer(tables.catalog_ids, vectors, graph, ranking.temperature, 1.0, cold)
    position = {item: i for i, item in enumerate(tables.catalog_ids)}
    inputs = F.select(tables.contract, F.QUERY, F.CANDIDATE, F.EVAL)
    for batch in data.dataset(source, split, inputs, batch_size):
        queries = model.query_tower(batch, training=False)
        towers = tf.matmul(queries, scorer.vectors, transpose_b=True).numpy() / scorer.temperature
        history = batch[F.HISTORY_ITEM_IDS]
        evidence = scorer.evidence(history).numpy()
        cold_z = scorer.cold.z(scorer.position.lookup(history)).numpy() if scorer.cold else None
        targets = np.array([position[i] for i in decode(batch[F.ITEM_ID].numpy())])
        excluded = [
            [position[i] for i in decode(s) if i in position] for s in batch[F.SEEN_ITEM_IDS].to_list()
        ]
        yield towers, evidence, cold_z, targets, excluded


def mixed(
    towers: np.ndarray,
    evidence: np.ndarray,
    weight: float,
    cold_z: np.ndarray | None = None,
    cold_positions: np.ndarray | None = None,
    cold: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """The scorer's sum in float32, as the exported model computes it."""
    scores = (towers + np.float32(weight) * evidence).astype(np.float32)
    if cold_z is not None and cold[0] != 0:
        scores[:, cold_positions] += np.float32(cold[0]) * cold_z + np.float32(cold[1])
    return scores


def choose(
    model: tf.keras.Model,
    ranking: Ranking,
    source: DataDir,
    weights: Sequence[float] = WEIGHTS,
    colds: Sequence[tuple[float, float]] = COLD,
) -> tuple[dict[str, float], list[dict]]:
    """The mix with the best VALIDATION NDCG@10 (``KEYS`` -> value), and every candidate's metrics.

    ``ranking`` gives what is not chosen (the temperature, whether cold text compares words)."""
    cold = scoring.cold_text(model, model.tables.catalog_ids, 1.0, 0.0, ranking.cold_words)
    positions = cold.positions if cold is not None and cold.active else None
    settings = [(w, c) for w in weights for c in (colds if positions is not None else colds[:1])]
    ranks: dict[tuple, list[np.ndarray]] = {s: [] for s in settings}
    for towers, evidence, cold_z, targets, excluded in parts(model, ranking, source, cold=cold):
        for weight, text in settings:
            scores = mixed(towers, evidence, weight, cold_z, positions, text)
            ranks[weight, text].append(metrics.ranks(scores, targets, excluded))
    table = [
        dict(zip(KEYS, (w, *c), strict=True)) | metrics.summarize(np.concatenate(r) if r else np.zeros(0))
        for (w, c), r in ranks.items()
    ]
    best = max(table, key=lambda row: (row["NDCG@10"], row["HR@10"]))
    return {k: best[k] for k in KEYS}, table


def applied(ranking: Ranking, chosen: dict[str, float]) -> Ranking:
    """``ranking`` with a chosen mix's weights (``KEYS``), as a model config with them ranks."""
    return dataclasses.replace(
        ranking,
        graph_weight=chosen["graph_score_weight"],
        cold_weight=chosen["cold_text_weight"],
        cold_offset=chosen["cold_text_offset"],
    )


def overrides(chosen: dict[str, float]) -> list[str]:
    """``model.KEY=value`` for a chosen mix."""
    return [f"model.{key}={value}" for key, value in chosen.items()]
