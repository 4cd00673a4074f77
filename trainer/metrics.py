"""PROTOCOL.md's ranking metrics over the full catalog, in plain numpy.

For each evaluated user every catalog item is scored, the user's TRAIN and
VALIDATION items are excluded (the target never is), and the target's rank r
(1 = best) counts the remaining items scored strictly higher. Exact score ties
therefore resolve in the target's favour, the same for every system scored here.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

KEYS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR", "num_users")


def ranks(scores: np.ndarray, targets: np.ndarray, excluded: Sequence[Iterable[int]]) -> np.ndarray:
    """Rank of each row's target among its non-excluded columns.

    Args:
      scores: ``[U, C]`` scores of every catalog item for each user.
      targets: ``[U]`` catalog index of each user's held-out item.
      excluded: per user, catalog indices to leave out (the target is kept even if listed).

    Returns:
      ``[U]`` int ranks, 1 = best.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    for row, items in enumerate(excluded):
        items = [i for i in items if i != targets[row]]
        scores[row, items] = -np.inf
    return 1 + np.sum(scores > target_scores[:, None], axis=1)


def summarize(all_ranks: np.ndarray) -> dict[str, float]:
    """HR@10, NDCG@10, HR@20, NDCG@20 and MRR of the given ranks."""
    r = np.asarray(all_ranks, dtype=np.float64)
    out: dict[str, float] = {}
    for k in (10, 20):
        hit = r <= k
        out[f"HR@{k}"] = float(hit.mean()) if len(r) else 0.0
        out[f"NDCG@{k}"] = float((hit / np.log2(r + 1)).mean()) if len(r) else 0.0
    out["MRR"] = float((1.0 / r).mean()) if len(r) else 0.0
    out["num_users"] = int(len(r))
    return out
