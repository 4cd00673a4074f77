"""Full-catalog evaluation of a trained model and of the popularity baseline.

The catalog is the ``candidates`` records (every item id of the interaction
source); each held-out example carries the user's excluded items in
``seen_item_ids``. Both systems are ranked by the same code (``metrics.ranks``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import metrics
from msrec.datadir import DataDir
from trainer import data, scoring
from trainer.catalog import decode


def held_out(source: DataDir, split: str) -> dict[str, list]:
    """The users, held-out items and excluded items of ``split``, as raw id strings."""
    features = F.by_name(source.contract)
    wanted = tuple(features[name] for name in (F.USER_ID, F.ITEM_ID, F.SEEN_ITEM_IDS))
    values = data.load_all(source, split, wanted)
    return {
        F.USER_ID: decode(values[F.USER_ID]),
        F.ITEM_ID: decode(values[F.ITEM_ID]),
        F.SEEN_ITEM_IDS: [decode(s) for s in values[F.SEEN_ITEM_IDS]],
    }


def evaluate(
    model: tf.keras.Model,
    ranking: scoring.Ranking,
    source: DataDir,
    split: str = "test",
    batch_size: int = 512,
    baseline: bool = True,
    per_user: bool = False,
) -> dict:
    """PROTOCOL.md metrics of ``model`` ranking by ``ranking`` (and of MostPopular from TRAIN counts)
    on ``split`` of ``source``.

    ``per_user``: also ``users`` and their target's ``ranks``, for paired comparisons
    (``bench/lead.py``).

    Besides the overall metrics, ``segments`` splits the model's by the length of the user's
    history (known items, ``metrics.history_segment``: 1-2, 3-5, 6-20, >20), by whether the user
    has friends, and by the test item's TRAIN popularity (head: top 20% of items by count, tail:
    unseen in TRAIN), and the cold slice: held-out items that no user has in TRAIN or VALIDATION
    (``COLD``).
    """
    contract = source.contract
    item_ids, scorer = scoring.for_model(model, ranking)
    position = {item: i for i, item in enumerate(item_ids)}
    counts = source.item_counts()
    popularity = np.array([counts.get(item, 0) for item in item_ids], np.float64)
    inputs = F.select(contract, F.QUERY, F.CANDIDATE, F.EVAL)
    model_ranks, popular_ranks, segments, lists, users = [], [], [], [], []
    target_items, known = [], {i for i, c in counts.items() if c > 0}  # known: in TRAIN or VALIDATION
    for batch in data.dataset(source, split, inputs, batch_size):
        scores = scorer(model.query_tower(batch, training=False), batch[F.HISTORY_ITEM_IDS]).numpy()
        targets = np.array([position[i] for i in decode(batch[F.ITEM_ID].numpy())])
        seen = batch[F.SEEN_ITEM_IDS].to_list()
        excluded = [[position[i] for i in decode(s) if i in position] for s in seen]
        model_ranks.append(metrics.ranks(scores, targets, excluded))
        lists.append(metrics.top_lists(scores, excluded, 10))
        if baseline:
            tiled = np.broadcast_to(popularity, (len(targets), len(popularity)))
            popular_ranks.append(metrics.ranks(tiled, targets, excluded))
        segments += _segments(batch, seen, popularity[targets], np.quantile(popularity, 0.8))
        target_items += decode(batch[F.ITEM_ID].numpy())
        users += decode(batch[F.USER_ID].numpy()) if per_user else []
        known.update(i for s in seen for i in decode(s))
    for names, item in zip(segments, target_items, strict=True):
        if item not in known:
            names.add(COLD)
    ranks = np.concatenate(model_ranks) if model_ranks else np.zeros(0)
    out = {"split": split, "catalog_items": len(item_ids), "model": metrics.summarize(ranks)}
    if lists:
        out["model"].update(metrics.beyond_accuracy(np.concatenate(lists), popularity, 10))
    if baseline:
        out["popularity"] = metrics.summarize(np.concatenate(popular_ranks) if popular_ranks else ranks[:0])
    if per_user:
        out["users"], out["ranks"] = users, ranks.astype(int).tolist()
    out["segments"] = {
        name: metrics.summarize(ranks[[i for i, s in enumerate(segments) if name in s]])
        for name in sorted({n for s in segments for n in s})
    }
    return out


COLD = "items: cold (in neither TRAIN nor VALIDATION)"


def _segments(batch: dict, seen: list, target_counts: np.ndarray, head_count: float) -> list[set[str]]:
    """The segment names each example of the batch belongs to."""
    friends = batch[F.FRIEND_IDS].numpy() if F.FRIEND_IDS in batch else None
    out = []
    for row, items in enumerate(seen):
        n = len(items)  # distinct known items: TRAIN (+ VALIDATION for TEST)
        activity = metrics.history_segment(n)
        social = "with friends" if friends is not None and friends[row][0] else "without friends"
        count = target_counts[row]
        item = (
            "items: head"
            if count >= head_count and count > 0
            else ("items: tail" if count == 0 else "items: torso")
        )
        out.append({activity, social, item})
    return out
