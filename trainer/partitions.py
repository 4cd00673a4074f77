"""The catalogue's partitions for approximate retrieval, computed once at export (numpy only).

A partitioned export (``trainer/retrieval.py``) scores a request's query against a few hundred
partition centroids instead of every item, then scores exactly only the items of the best
``probes`` partitions. The partitions are a k-means clustering of the items' candidate vectors
(Lloyd's algorithm on a fixed-seed sample, k-means++ seeding, then every item assigned to its
nearest centroid), so an item lands in the partition of the vectors it resembles; items added at
export (``--new-items``) land in their nearest partition the same way. Deterministic for a seed.

``plan`` chooses how many partitions and probes by catalogue size: brute force below
``ServingConfig.brute_force_below`` items (exact, and fast enough), else about ``4 * sqrt(N)``
partitions of which ``PROBES`` (160) are probed; both overridable (``ServingConfig.partitions``/``probes``).
A fixed probe count scores a shrinking share as the catalogue grows (13 % of 100,000 items, 4 % of
1,000,000), and that is what recall allows: on ``bench/retrieval.py``'s clustered catalogue, where a
user's top 100 is 0.1 % of 100,000 items but 0.01 % of 1,000,000, recall@100 against brute force
needs about 1 partition in 8 probed at 100,000 items (one in 16 gave 0.92) but 1 in 64 already gives
0.98 at 1,000,000 (``docs/benchmarks.md``, "Retrieval").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import sparse

from msrec.config import ServingConfig

PROBES = 160  # partitions a request scores when ServingConfig.probes is 0


@dataclasses.dataclass(frozen=True)
class Partitions:
    """Items grouped by partition: those of partition ``p`` are ``members[splits[p]:splits[p + 1]]``.

    Attributes:
      centroids: ``[partitions, D]`` float32, what a query is scored against first.
      splits: ``[partitions + 1]`` int64 offsets into ``members``.
      members: ``[N]`` int64 catalogue positions, by partition, ascending within one.
      labels: ``[N]`` int32, each item's partition.
    """

    centroids: np.ndarray
    splits: np.ndarray
    members: np.ndarray
    labels: np.ndarray

    @property
    def count(self) -> int:
        return len(self.centroids)

    @property
    def largest(self) -> int:
        return int(np.max(np.diff(self.splits))) if len(self.splits) > 1 else 0


def plan(items: int, serving: ServingConfig) -> tuple[int, int]:
    """``(partitions, probes)`` for a catalogue of ``items``; ``(0, 0)`` means brute force.

    ``serving.partitions`` / ``serving.probes`` (0: chosen here) override the choice; a set
    ``partitions`` partitions any catalogue, however small (tests and quality checks use it).
    """
    if serving.partitions == 0 and items < serving.brute_force_below:
        return 0, 0
    partitions = serving.partitions or max(1, int(round(4 * math.sqrt(items))))
    partitions = min(partitions, items)
    probes = serving.probes or PROBES
    return partitions, min(probes, partitions)


def squared_distances(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``[n, k]`` squared Euclidean distances (up to each row's constant ``|x|^2``: ranks only)."""
    return (centroids * centroids).sum(axis=1)[np.newaxis, :] - 2.0 * vectors @ centroids.T


def nearest(vectors: np.ndarray, centroids: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Each row's nearest centroid, in chunks so that ``[chunk, k]`` bounds the memory."""
    out = np.empty(len(vectors), np.int32)
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk]
        out[start : start + chunk] = np.argmin(squared_distances(part, centroids), axis=1)
    return out


def kmeans(
    vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 10, per_partition: int = 32
) -> np.ndarray:
    """``[k, D]`` centroids fitted on at most ``k * per_partition`` rows of ``vectors`` (fixed seed).

    Seeded with ``k`` distinct rows of the sample; a partition that loses all its rows is
    re-seeded with the rows farthest from their centroids.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(vectors, np.float32)
    if len(x) > k * per_partition:
        x = x[np.sort(rng.choice(len(x), k * per_partition, replace=False))]
    centroids = x[np.sort(rng.choice(len(x), k, replace=False))].copy()
    for _ in range(iterations):
        labels = nearest(x, centroids)
        counts = np.bincount(labels, minlength=k)
        one_hot = sparse.csr_matrix((np.ones(len(x), np.float32), (labels, np.arange(len(x)))), (k, len(x)))
        moved = np.asarray(one_hot @ x) / np.maximum(counts, 1)[:, np.newaxis]
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            far = np.argsort(-((x - centroids[labels]) ** 2).sum(axis=1), kind="stable")[: len(empty)]
            moved[empty] = x[far]
        centroids = moved.astype(np.float32)
    return centroids


def partition(vectors: np.ndarray, count: int, fitted_on: int | None = None, seed: int = 0) -> Partitions:
    """``count`` k-means partitions of ``vectors``; centroids fitted on the first ``fitted_on`` rows.

    Rows past ``fitted_on`` (items added at export) only join their nearest partition, so the
    partitions of the trained catalogue do not move when new items arrive.
    """
    fitted = np.asarray(vectors[: len(vectors) if fitted_on is None else fitted_on], np.float32)
    centroids = kmeans(fitted, min(count, len(fitted)), seed)
    labels = nearest(np.asarray(vectors, np.float32), centroids)
    members = np.argsort(labels, kind="stable").astype(np.int64)
    splits = np.searchsorted(labels[members], np.arange(len(centroids) + 1)).astype(np.int64)
    return Partitions(centroids, splits, members, labels)
