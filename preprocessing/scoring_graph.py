"""The item scoring graph: the closed-form item-item regression EASE^R over TRAIN item sets.

EASE^R (Steck, 2019) over users' TRAIN item sets: ``B = argmin ||X - XB||^2 + l2 ||B||^2`` with a
zero diagonal, so ``B[i, j]`` says how much having ``i`` predicts ``j`` *given the rest of the
history*: items that only echo each other share the credit, unlike in cosine, and an item that
comes *instead of* ``j`` gets a negative weight. An item keeps the ``k`` weights of its column
largest in magnitude, negative ones included. The ranking adds this evidence to the towers'
score (``trainer/scoring.py``). Item content enters as extra rows of ``X`` (Jeunen, Van Balen and
Goethals, *Closed-form models for collaborative filtering with side-information*, RecSys 2020):
each category or tag is a row over the items it labels, weighted like ``word_weight`` users who
met exactly those items, so items that share words share evidence even where few users link them.
``graphs.BuildGraphs`` builds it beside the item and social graphs.
"""

from __future__ import annotations

import ctypes
import logging
import math
import time
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
from scipy.linalg import lapack  # in-place inverses: numpy's inv holds four n x n arrays at once

from preprocessing import progress, vocab
from preprocessing.batches import unpacked

log = logging.getLogger(__name__)


def head(item_counts: Iterable[tuple[str, int]], limit: int) -> list[str]:
    """The ``limit`` most frequent items, ties broken by id: the items the regression covers."""
    return [item for item, _ in vocab.ordered(item_counts)[:limit]]


BYTES_PER_CELL = 4  # one float32 n x n matrix: the Gram matrix, inverted in place (``invert_in_place``)


def budget_items(memory_gib: float, max_items: int = 0) -> int:
    """How many items the regression may cover within ``memory_gib`` (and ``max_items`` if set)."""
    by_memory = int(math.isqrt(int(memory_gib * 2**30) // BYTES_PER_CELL))
    return min(by_memory, max_items) if max_items > 0 else by_memory


# The Cholesky inverse is used up to 20,000 items: OpenBLAS's spotrf crashed the process (SIGSEGV) on
# 32,767 and 32,768 items here and ran at 20,000. Above, the LU inverse (twice the arithmetic) does,
# as measured up to 32,768.
CHOLESKY_BYTES = 4 * 20_001**2


def _invert_lu_in_place(matrix: np.ndarray) -> np.ndarray:
    lu, pivots, info = lapack.sgetrf(matrix.T, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"LU factorisation failed (sgetrf info {info})")
    work, _ = lapack.sgetri_lwork(len(matrix))
    inverse, info = lapack.sgetri(lu, pivots, lwork=int(work), overwrite_lu=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (sgetri info {info})")
    return inverse.T


def invert_in_place(matrix: np.ndarray, block: int = 1024) -> np.ndarray:
    """The inverse of a symmetric positive definite float32 ``matrix``, computed in its own memory.

    LAPACK's Cholesky factorisation and inverse (``spotrf``, ``spotri``) overwrite their input, so
    the regression needs one ``n x n`` array where ``np.linalg.inv`` holds the input, its own copy,
    an identity and the output; and they take half the arithmetic of an LU inverse. A Gram matrix
    plus a positive ridge is positive definite. ``spotri`` fills one triangle; the other is copied
    over ``block`` rows at a time, so no index array of the whole matrix is ever built.
    The transpose is the same symmetric matrix in the Fortran order LAPACK writes into.
    """
    if len(matrix) == 0:  # no covered items (LAPACK refuses an empty matrix)
        return matrix
    if matrix.nbytes >= CHOLESKY_BYTES:
        return _invert_lu_in_place(matrix)
    factor, info = lapack.spotrf(matrix.T, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"Cholesky factorisation failed (spotrf info {info}): not positive definite"
        )
    inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (spotri info {info})")
    n = len(inverse)
    for start in range(0, n, block):
        end = min(n, start + block)
        inverse[start:end, :start] = inverse[:start, start:end].T
        square = inverse[start:end, start:end]
        below = np.tril_indices(end - start, -1)
        square[below] = square.T[below]
    return inverse.T


def release_freed_memory() -> None:
    """Returns the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere, nothing).

    The stages before the regression free millions of small objects; glibc keeps many of those pages,
    which would stay resident beside the Gram matrix. Measured at 5 M interactions just before it:
    2.63 GiB resident, 1.86 GiB after the trim.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def regression(
    item_sets: Iterable[Sequence[int]],
    items: Sequence[str],
    l2: float,
    k: int,
    clock: progress.Clock | None = None,
    name: str = "scoring graph",
    words: Iterable[Sequence[int]] = (),
    word_weight: float = 0.0,
) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """EASE^R over ``items``: per item, the ``k`` items whose presence says most about it.

    Single precision: the ridge keeps the Gram matrix well conditioned, and the weights only
    rank sources and add evidence, so float32 halves memory and time at no cost to the ranking.

    Args:
      item_sets: per user, the positions in ``items`` of their distinct TRAIN items.
      items: the covered items; peak memory is about ``BYTES_PER_CELL * len(items) ** 2`` bytes.
      l2: the ridge penalty; larger shrinks the weights of rarely co-occurring pairs.
      k: how many of each item's sources to keep, the largest weights in magnitude.
      clock: prints a progress line when the fit starts and ends (``preprocessing/progress.py``).
      name: which graph, in the log and progress lines.
      words: per item word (a category or tag), the positions in ``items`` of the items it labels:
        extra rows of ``X`` with weight ``word_weight`` (0: behaviour alone).

    Yields:
      ``(item, [(source, weight), ...])``, largest magnitude first, for items with any source.
    """
    n, started = len(items), time.perf_counter()
    log.info("%s: EASE^R over %d items (l2 %g, %d sources kept per item)", name, n, l2, k)
    if clock is not None:
        clock.say(f"{name}: EASE^R over {n:,} items ({BYTES_PER_CELL * n * n / 2**30:.1f} GiB)")
    release_freed_memory()
    gram = np.zeros((n, n), np.float32)
    for rows in item_sets:
        add_block(gram, rows, 1.0)
    for rows in words if word_weight > 0 else ():
        add_block(gram, rows, word_weight)
    gram[np.diag_indices(n)] += l2
    weights = invert_in_place(gram)  # the precision matrix P, in gram's memory
    del gram
    weights /= -np.diag(weights).copy()  # column j: B[:, j] = -P[:, j] / P[j, j]
    np.fill_diagonal(weights, 0.0)
    log.info("%s: fitted in %.1f s", name, time.perf_counter() - started)
    if clock is not None:
        clock.say(f"{name}: fitted in {time.perf_counter() - started:.0f} s")
    for j, item in enumerate(items):
        magnitude = np.abs(weights[:, j])
        sources = np.flatnonzero(magnitude > 0)
        if len(sources) > k:
            sources = sources[np.argpartition(-magnitude[sources], k - 1)[:k]]
        if len(sources):
            order = sorted(sources, key=lambda i: (-magnitude[i], items[i]))
            yield item, [(items[i], float(weights[i, j])) for i in order]


def add_block(gram: np.ndarray, rows: Sequence[int], value: float, cells: int = 1 << 22) -> None:
    """``gram[rows x rows] += value``, a few thousand rows at a time: a category on most of the covered
    items would otherwise make a temporary as large as ``gram`` itself (16 MiB at most here)."""
    rows = np.asarray(rows, np.int64)
    step = max(1, cells // max(len(rows), 1))
    for start in range(0, len(rows), step):
        gram[np.ix_(rows[start : start + step], rows)] += np.float32(value)


def regressions(
    sets: Sequence[tuple[np.ndarray, ...]],
    train_items: Sequence[str],
    known_items: Sequence[str] | None = None,
    *,
    l2: float,
    k: int,
    clock: progress.Clock | None = None,
    words: Sequence[Sequence[str]] = (),
    word_weight: float = 0.0,
) -> Iterator[tuple[int, str, list[tuple[str, float]]]]:
    """``regression`` over each user's TRAIN set, then (given ``known_items``) over their TRAIN +
    VALIDATION set, one after the other (one Gram matrix at a time): ``(0, item, sources)`` then
    ``(1, item, sources)``. ``words``: per item word, the names of the items it labels."""
    graphs = (("scoring graph", train_items), ("refit scoring graph", known_items))
    for which, (name, items) in enumerate(graphs if known_items is not None else graphs[:1]):
        rows = covered(words, items) if word_weight > 0 else []
        for item, sources in regression(
            (s[which] for s in sets), items, l2, k, clock, name, rows, word_weight
        ):
            yield which, item, sources


def covered(words: Iterable[Sequence[str]], items: Sequence[str]) -> list[np.ndarray]:
    """Per word, the positions in ``items`` of the items it labels, for words on two or more of
    them (a word on one item links nothing and would only shrink that item's weights)."""
    at = {item: i for i, item in enumerate(items)}
    rows = (np.array(sorted({at[i] for i in labelled if i in at}), np.int64) for labelled in words)
    return [r for r in rows if len(r) >= 2]


class BuildScoringGraph(beam.PTransform):
    """Packed lists of ``Timeline`` s (``batches.packed``) -> ``(train, refit)``, PCollections of
    ``(item, [(source, weight), ...])``: EASE^R over the most frequent TRAIN items, and the same over
    TRAIN + VALIDATION for a model refit on both (``paths.SCORING_GRAPH_REFIT``), as the peers refit
    theirs: on CiaoDVD, where a user has 3.6 TRAIN items, the TRAIN fit alone scored TEST NDCG@10 7 %
    lower (``docs/tuning.md``). Batches, so that it reads the same PCollection as the item graph does.

    The regressions run on one worker, one after the other, over a dense matrix of the covered items,
    so ``max_items`` bounds their memory and time (``docs/benchmarks.md``); rarer items get no
    scoring edges and are ranked by the towers alone.
    """

    def __init__(
        self,
        l2: float,
        k: int,
        max_items: int,
        item_counts,
        known_counts=None,
        clock: progress.Clock | None = None,
        words=None,
        word_weight: float = 0.0,
    ):
        """``max_items``: the covered-item cap, from ``budget_items`` (a memory budget);
        ``item_counts`` / ``known_counts``: ``(item, count)`` over TRAIN / TRAIN + VALIDATION
        (``known_counts`` None: the TRAIN graph alone, and ``refit`` is None); ``words``: a
        PCollection with, per item word, the names of the items it labels (``item_words``), rows
        of weight ``word_weight`` in both regressions (None or 0: behaviour alone)."""
        super().__init__()
        self._l2, self._k, self._max, self._clock = l2, k, max_items, clock
        self._counts = [c for c in (item_counts, known_counts) if c is not None]
        self._words, self._word_weight = (words, word_weight) if word_weight > 0 else (None, 0.0)

    def expand(self, batches):
        heads, indexes = [], []
        for label, counts in zip(("", "Refit"), self._counts, strict=False):
            items = (
                counts
                | f"AllCounts{label}" >> beam.combiners.ToList()
                | f"Head{label}" >> beam.Map(head, self._max)
            )
            heads.append(beam.pvalue.AsSingleton(items))
            index = items | f"Index{label}" >> beam.Map(lambda names: {n: i for i, n in enumerate(names)})
            indexes.append(beam.pvalue.AsSingleton(index))

        def item_sets(blob, *at):
            return [
                tuple(
                    np.array(sorted({a[i] for i in names if i in a}), np.int32)
                    for names, a in zip((t.train_items, t.known_items), at, strict=False)
                )
                for t in unpacked(blob)
            ]

        words = () if self._words is None else beam.pvalue.AsList(self._words)
        edges = (
            batches
            | "ItemSets" >> beam.FlatMap(item_sets, *indexes)
            | "AllSets" >> beam.combiners.ToList()
            | "Regression"
            >> beam.FlatMap(
                regressions,
                *heads,
                l2=self._l2,
                k=self._k,
                clock=self._clock,
                words=words,
                word_weight=self._word_weight,
            )
        )
        if len(heads) == 1:
            return edges | "TrainEdges" >> beam.Map(lambda e: e[1:]), None
        train, refit = edges | "ByGraph" >> beam.Partition(lambda edge, _: edge[0], 2)
        return (
            train | "TrainEdges" >> beam.Map(lambda e: e[1:]),
            refit | "RefitEdges" >> beam.Map(lambda e: e[1:]),
        )


def item_words(items, taggings=None):
    """Per item word, the sorted names of the items it labels: ``category:<name>`` from the items'
    categories; ``tag:<tag>`` from every tagging when the dataset has an ``item_tags`` source (all of
    an item's tags, not only the ``k`` most used that its features keep), else from the items' own
    tags. Words on one item are dropped. ``items``: ``(item, Item)``; ``taggings``: ``ItemTag`` rows
    or None."""
    inline = taggings is None
    pairs = items | "ItemWords" >> beam.FlatMap(
        lambda kv: (
            [(f"category:{c}", kv[0]) for c in kv[1].categories]
            + [(f"tag:{t}", kv[0]) for t in (kv[1].tags if inline else ())]
        )
    )
    if taggings is not None:
        tags = taggings | "TagWords" >> beam.Map(lambda t: (f"tag:{t.tag}", t.item))
        pairs = (pairs, tags) | "AllWords" >> beam.Flatten()
    return (
        pairs
        | "DistinctWordItems" >> beam.Distinct()
        | "ItemsByWord" >> beam.GroupByKey()
        | "WordItems" >> beam.MapTuple(lambda _, labelled: tuple(sorted(labelled)))
        | "SharedWords" >> beam.Filter(lambda labelled: len(labelled) >= 2)
    )
