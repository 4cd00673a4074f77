"""Scoring benchmark: the cost of the item scoring graph's evidence in one serving request.

``trainer.scoring.Scorer`` ranks a catalog by the towers' dot product plus ``graph_score_weight`` times
the item scoring graph's evidence of the user's history. For each catalog size it builds a scorer on
random embeddings (64 wide) and a random graph over the catalog's first ``--graph-items`` items (the
scoring graph covers the most frequent ones), ``--neighbors`` sources each, compiles one request (one
user, a full history of 50 graph items, top-``--k``) with ``tf.function`` as the SavedModel does, and
times it with the evidence off (weight 0) and on. It prints markdown and replaces the "## Scoring"
section of ``--docs``.

    python bench/scoring.py --catalogs 17632,100000,1000000
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from bench import common  # noqa: E402

# isort: off
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from msrec import config  # noqa: E402
from trainer.scoring import Scorer  # noqa: E402

# isort: on


def request_ms(scorer: Scorer, query: tf.Tensor, history: tf.Tensor, k: int, seconds: float) -> float:
    """Median milliseconds of one compiled request, over repeats filling about ``seconds``."""
    answer = tf.function(lambda q, h: tf.math.top_k(scorer(q, h), k))
    answer(query, history)  # trace and warm up
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        answer(query, history)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def measure(
    n: int, graph_items: int, neighbors: int, k: int, seconds: float, rng: np.random.Generator
) -> tuple[float, float]:
    ids = [f"i{i}" for i in range(n)]
    head = min(n, graph_items)
    sources = rng.integers(0, head, (head, neighbors))
    weights = rng.standard_normal((head, neighbors))
    graph = {
        ids[j]: [(ids[i], w) for i, w in zip(sources[j], weights[j].tolist(), strict=True)]
        for j in range(head)
    }
    vectors = rng.standard_normal((n, 64), np.float32)
    query = tf.constant(rng.standard_normal((1, 64), np.float32))
    history = tf.constant(np.array(ids, dtype=object)[rng.integers(0, head, (1, 50))])
    return tuple(
        request_ms(Scorer(ids, vectors, graph, 0.1, weight), query, history, k, seconds)
        for weight in (0.0, config.ModelConfig.graph_score_weight)
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", default="17632,100000,1000000", help="catalog sizes, comma-separated")
    data = config.DataConfig()
    parser.add_argument("--neighbors", type=int, default=data.regression_neighbors, help="sources per item")
    parser.add_argument(
        "--graph-items", type=int, default=data.regression_max_items, help="items the graph covers"
    )
    parser.add_argument("--k", type=int, default=150, help="top-K per request (top_k + history)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per cell")
    parser.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = ["| catalog items | towers only (ms) | with graph evidence (ms) | overhead |", "|---|---|---|---|"]
    for n in (int(c) for c in args.catalogs.split(",")):
        off, on = measure(n, args.graph_items, args.neighbors, min(args.k, n), args.seconds, rng)
        rows.append(f"| {n:,} | {off:.2f} | {on:.2f} | {on / off - 1:+.0%} |")
        print(rows[-1], flush=True)
    intro = (
        "One request (one user, 50 history items) through `trainer.scoring.Scorer` under `tf.function`, "
        f"median time, in-process, on random embeddings and a random graph of {args.neighbors} sources per "
        f"item over the first {args.graph_items:,} items (the defaults of `data.regression_neighbors` and "
        "`data.regression_max_items`). The evidence reads only the graph edges of the history's items, so "
        "what it adds does not grow with the catalog; the towers' dot product does."
    )
    common.publish(args.docs, "Scoring", intro, "scoring.py", argv, rows)


if __name__ == "__main__":
    main(sys.argv[1:])
