"""PROTOCOL.md's ranking metrics, in plain numpy: one definition for every figure msrec reports.

For each evaluated user every catalog item is scored, the user's TRAIN and VALIDATION
items are excluded (the target never is), and the target's rank is
``r = 1 + the number of other candidates scored >= the target`` (ties count against the
target, as the peers in ``peers.md`` count them). The in-process evaluation
(``trainer/evaluate.py``) ranks full score matrices with ``ranks``; the evaluation of an
export through its signatures (``serving/evaluate.py``) ranks served top-K lists with
``ranks_in_lists``, which gives the same r whenever the target is in the list.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

K = (10, 20)
KEYS = (
    "HR@10",
    "NDCG@10",
    "HR@20",
    "NDCG@20",
    "MRR",
    "Precision@10",
    "Recall@10",
    "F1@10",
    "num_users",
)
MAIN = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR")  # the columns of tables and plots
TABLE = (*MAIN, "Precision@10", "F1@10")  # what the CLI prints (Recall@10 = HR@10)
AVERAGED = tuple(k for k in KEYS if k != "num_users")
BEYOND = ("Coverage@10", "Novelty@10")  # of the in-process evaluation's top-10 lists
NOT_RANKED = np.inf  # the rank of a target that a served list does not hold


def ranks(scores: np.ndarray, targets: np.ndarray, excluded: Sequence[Iterable[int]]) -> np.ndarray:
    """Rank of each row's target among its non-excluded columns.

    Args:
      scores: ``[U, C]`` scores of every catalog item for each user.
      targets: ``[U]`` catalog index of each user's held-out item.
      excluded: per user, catalog indices to leave out (the target is kept even if listed).

    Returns:
      ``[U]`` int ranks, 1 = best; ties count against the target.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    for row, items in enumerate(excluded):
        items = [i for i in items if i != targets[row]]
        scores[row, items] = -np.inf
    scores[rows, targets] = -np.inf  # the target is not one of the "other" candidates
    return 1 + np.sum(scores >= target_scores[:, None], axis=1)


def ranks_in_lists(item_lists: np.ndarray, score_lists: np.ndarray, targets: Sequence) -> np.ndarray:
    """The target's rank from served top-K lists (``NOT_RANKED`` where a list lacks it).

    Args:
      item_lists: ``[U, K]`` item ids as served, best first.
      score_lists: ``[U, K]`` their scores.
      targets: ``[U]`` each user's held-out item id.
    """
    out = np.full(len(targets), NOT_RANKED)
    for row, target in enumerate(targets):
        where = np.flatnonzero(item_lists[row] == target)
        if len(where):
            others = np.delete(score_lists[row], where[0])
            out[row] = 1 + np.sum(others >= score_lists[row][where[0]])
    return out


def top_lists(scores: np.ndarray, excluded: Sequence[Iterable[int]], k: int = 10) -> np.ndarray:
    """``[U, k]`` catalog indices of each user's best k non-excluded items, best first."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    for row, items in enumerate(excluded):
        scores[row, list(items)] = -np.inf
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def beyond_accuracy(lists: np.ndarray, counts: np.ndarray, k: int = 10) -> dict[str, float]:
    """Catalogue coverage and novelty of top-k lists.

    Args:
      lists: ``[U, k]`` catalog indices recommended to each user.
      counts: ``[C]`` TRAIN interactions of each catalog item.

    Returns:
      ``Coverage@k``: the share of the catalog recommended to anyone; ``Novelty@k``: the mean
      self-information ``-log2 p(item)`` of recommended items, p the TRAIN popularity share
      (add-one smoothed, so an item never met in TRAIN has a finite, high value).
    """
    counts = np.asarray(counts, np.float64)
    if not len(lists):
        return {f"Coverage@{k}": 0.0, f"Novelty@{k}": 0.0}
    share = (counts + 1.0) / (counts.sum() + len(counts))
    return {
        f"Coverage@{k}": float(len(np.unique(lists)) / len(counts)),
        f"Novelty@{k}": float(np.mean(-np.log2(share[lists]))),
    }


def summarize(all_ranks: np.ndarray) -> dict[str, float]:
    """PROTOCOL.md's metrics of the given ranks (one TEST item per user)."""
    r = np.asarray(all_ranks, dtype=np.float64)
    out: dict[str, float] = {}
    mean = lambda values: float(values.mean()) if len(r) else 0.0  # noqa: E731
    for k in K:
        hit = r <= k
        out[f"HR@{k}"] = mean(hit)
        out[f"NDCG@{k}"] = mean(np.where(hit, 1.0 / np.log2(np.minimum(r, 1e9) + 1), 0.0))
    out["MRR"] = mean(1.0 / r)
    # One relevant item per user: recall is the hit, precision the hit over the list's length.
    hit = (r <= 10).astype(np.float64)
    precision, recall = hit / 10, hit
    out["Precision@10"], out["Recall@10"] = mean(precision), mean(recall)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(hit), where=hit > 0)
    out["F1@10"] = mean(f1)
    out["num_users"] = int(len(r))
    return out


# Issue 28: users by the length of their history, so the users with a handful of events are seen apart.
HISTORY_SEGMENTS = ((1, 2), (3, 5), (6, 20))  # and "> 20"


def history_segment(known: int) -> str:
    """The segment of a user who knows ``known`` items before the target (TRAIN for VALIDATION,
    TRAIN + VALIDATION for TEST): ``users: 1-2 known items``, ``users: 3-5``, ``users: 6-20``,
    ``users: >20`` (no evaluated user knows none: PROTOCOL.md keeps one TRAIN item at least)."""
    for low, high in HISTORY_SEGMENTS:
        if known <= high:
            return f"users: {low}-{high} known items" if low == 1 else f"users: {low}-{high}"
    return f"users: >{HISTORY_SEGMENTS[-1][1]}"


def by_history(all_ranks: np.ndarray, known: Sequence[int]) -> dict[str, dict[str, float]]:
    """``summarize`` of the ranks of each history segment that has users, shortest first."""
    r = np.asarray(all_ranks, dtype=np.float64)
    names = np.array([history_segment(int(n)) for n in known])
    order = [history_segment(high) for _, high in HISTORY_SEGMENTS] + [history_segment(10**9)]
    return {name: summarize(r[names == name]) for name in order if (names == name).any()}
