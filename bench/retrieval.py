"""Retrieval benchmark: partitioned retrieval against brute force, and int8 item vectors against float32.

For each catalogue size it draws a synthetic catalogue of 64-wide unit item vectors and users' query
vectors, exports SavedModels of msrec's serving retrieval (``trainer.retrieval.Retriever`` over
``trainer.scoring.Scorer``: signature ``query [B, 64]``, ``history_item_ids [B, 50]`` -> top 100), one
per contender, loads each as a model server does (``tf.saved_model.load``) and times one user per
request at one client, the contenders alternating in ``--rounds`` slices so that other load on the
machine falls on all alike. Recall@100 is the partitioned top 100's overlap with brute force's over
``--queries`` users.

The catalogue (``--data``): ``clustered`` draws ``--topics`` topic centres with ``--niches`` niche
directions each (the shape of ``synthetic/``'s world at scale), an item ``normalise(centre + 0.5 *
niche + noise)`` and a user ``normalise(0.8 * favourite centre + 0.4 * its niche + 0.3 * another
centre + noise)``, the noise's norm ``--noise`` (relative to a centre's); ``isotropic`` draws items
and users uniformly on the sphere, where no partitioning can help (the worst case). Contenders:
brute force and partitioned (partitions and probes as ``msrec export`` chooses them, or
``--partitions``/``--probes``), towers only and with the item graph's evidence (``--graph-items``
items with ``--neighbors`` sources each, weight 5, as ``bench/scoring.py``), float32 and int8.

    python bench/retrieval.py --catalogs 100000,1000000 --output-dir docs
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from bench import common  # noqa: E402

# isort: off
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from msrec import config  # noqa: E402
from trainer import partitions  # noqa: E402
from trainer.retrieval import Plan, Retriever  # noqa: E402
from trainer.scoring import Scorer  # noqa: E402

# isort: on

DIM, HISTORY, TOP_K, TEMPERATURE, GRAPH_WEIGHT = 64, 50, 100, 0.05, 5.0


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def catalogue(n: int, users: int, args: argparse.Namespace, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(items [n, 64], queries [users, 64])`` unit vectors of the chosen synthetic world."""
    rng = np.random.default_rng(seed)
    if args.data == "isotropic":
        return unit(rng.standard_normal((n, DIM))), unit(rng.standard_normal((users, DIM)))
    centres = unit(rng.standard_normal((args.topics, DIM)))
    niches = unit(rng.standard_normal((args.topics * args.niches, DIM))).reshape(
        args.topics, args.niches, DIM
    )
    noise = lambda rows: args.noise * unit(rng.standard_normal((rows, DIM)))  # noqa: E731
    topic, niche = rng.integers(args.topics, size=n), rng.integers(args.niches, size=n)
    items = unit(centres[topic] + 0.5 * niches[topic, niche] + noise(n))
    first, second = rng.integers(args.topics, size=users), rng.integers(args.topics, size=users)
    taste = 0.8 * centres[first] + 0.4 * niches[first, rng.integers(args.niches, size=users)]
    return items, unit(taste + 0.3 * centres[second] + noise(users))


def graph(ids: list[str], args: argparse.Namespace, seed: int = 1) -> dict[str, list[tuple[str, float]]]:
    """``bench/scoring.py``'s random graph: ``--neighbors`` sources for each of the first items."""
    rng = np.random.default_rng(seed)
    head = min(len(ids), args.graph_items)
    sources = rng.integers(0, head, (head, args.neighbors))
    weights = rng.standard_normal((head, args.neighbors)).astype(np.float32) * 0.1
    return {
        ids[j]: list(zip([ids[i] for i in sources[j]], weights[j].tolist(), strict=True)) for j in range(head)
    }


class Served(tf.Module):
    """A SavedModel of one contender: query vector and history ids -> top 100 positions and scores."""

    def __init__(self, retriever: Retriever):
        super().__init__()
        self.retriever = retriever

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, DIM], tf.float32, "query"),
            tf.TensorSpec([None, HISTORY], tf.string, "history_item_ids"),
        ]
    )
    def serve(self, query, history_item_ids):
        scores, positions = self.retriever.top_k(query, history_item_ids, None, self.retriever.rules())
        return {"positions": positions, "scores": scores}


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str  # e.g. "partitioned, int8, with graph"
    storage: str
    with_graph: bool
    partitioned: bool


def contenders(graph_items: int) -> list[Contender]:
    out = []
    for storage, with_graph in (("float32", False), ("int8", False), ("float32", True)):
        if with_graph and not graph_items:
            continue
        for partitioned in (False, True):
            mode = "partitioned" if partitioned else "brute force"
            name = f"{mode}, {storage}" + (", with graph" if with_graph else "")
            out.append(Contender(name, storage, with_graph, partitioned))
    return out


def export_contender(c: Contender, ids, vectors, edges, parts: partitions.Partitions, probes, path) -> float:
    """Writes the contender's SavedModel to ``path``; returns its size in MB."""
    weight = GRAPH_WEIGHT if c.with_graph else 0.0
    scorer = Scorer(ids, vectors, edges if c.with_graph else {}, TEMPERATURE, weight, storage=c.storage)
    plan = Plan(parts, probes) if c.partitioned else Plan()
    module = Served(Retriever(scorer, TOP_K, np.zeros(len(ids)), plan))
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file()) / 2**20


def requests(
    ids: list[str], queries: np.ndarray, graph_items: int, seed: int = 2
) -> list[dict[str, tf.Tensor]]:
    """One user per request: a query vector and a full history of items the graph covers."""
    rng = np.random.default_rng(seed)
    head = np.array(ids[: max(1, min(len(ids), graph_items or len(ids)))], dtype=object)
    return [
        {
            "query": tf.constant(q[np.newaxis]),
            "history_item_ids": tf.constant(head[rng.integers(0, len(head), (1, HISTORY))]),
        }
        for q in queries
    ]


def timed(call, feeds: list, seconds: float) -> list[float]:
    times, deadline, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        call(**feeds[i % len(feeds)])["positions"].numpy()
        times.append(1000 * (time.perf_counter() - start))
        i += 1
    return times


def recall(loaded: dict, exact: str, approximate: str, feeds: list) -> float:
    """Mean overlap of the top 100 of ``approximate`` with ``exact``'s, over ``feeds``."""
    hits = [
        len(
            set(loaded[exact](**f)["positions"].numpy()[0])
            & set(loaded[approximate](**f)["positions"].numpy()[0])
        )
        for f in feeds
    ]
    return float(np.mean(hits)) / TOP_K


def measure(n: int, args: argparse.Namespace, workdir: str) -> list[str]:
    """The table rows of one catalogue size."""
    items, queries = catalogue(n, args.queries, args)
    ids = [f"item_{i:07d}" for i in range(n)]
    edges = graph(ids, args) if args.graph_items else {}
    serving = config.ServingConfig(brute_force_below=0, partitions=args.partitions, probes=args.probes)
    count, probes = partitions.plan(n, serving)
    started = time.perf_counter()
    parts = partitions.partition(items, count)
    fitted = time.perf_counter() - started
    loaded, sizes = {}, {}
    for c in contenders(args.graph_items):
        path = os.path.join(workdir, str(n), c.name.replace(", ", "_").replace(" ", "-"))
        sizes[c.name] = export_contender(c, ids, items, edges, parts, probes, path)
        loaded[c.name] = tf.saved_model.load(path).signatures["serving_default"]
    feeds = requests(ids, queries, args.graph_items)
    times = {name: [] for name in loaded}
    for call in loaded.values():
        timed(call, feeds, min(1.0, args.seconds))  # warm-up
    for _ in range(args.rounds):
        for name, call in loaded.items():
            times[name] += timed(call, feeds, args.seconds / args.rounds)
    scanned = float(np.mean(np.diff(parts.splits))) * probes / n
    rows = []
    for c in contenders(args.graph_items):
        brute = c.name.replace("partitioned", "brute force")
        p50, p99 = np.percentile(times[c.name], [50, 99])
        speedup = np.median(times[brute]) / p50
        exact = recall(loaded, brute, c.name, feeds) if c.partitioned else 1.0
        against = recall(loaded, "brute force, float32", c.name, feeds) if c.storage != "float32" else exact
        setting = f"{parts.count:,} / {probes} ({scanned:.1%})" if c.partitioned else "-"
        rows.append(
            f"| {n:,} | {c.name} | {setting} | {sizes[c.name]:.2f} | {p50:.2f} / {p99:.2f} | {speedup:.1f}x "
            f"| {exact:.3f} | {against:.3f} |"
        )
        print(rows[-1], flush=True)
    print(f"k-means of {n:,} items into {parts.count:,} partitions: {fitted:.0f} s", flush=True)
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", default="100000,1000000", help="catalogue sizes, comma-separated")
    parser.add_argument("--data", choices=("clustered", "isotropic"), default="clustered")
    parser.add_argument("--topics", type=int, default=1000, help="topic centres (clustered)")
    parser.add_argument("--niches", type=int, default=8, help="niche directions per topic (clustered)")
    parser.add_argument("--noise", type=float, default=1.0, help="noise norm, relative to a centre's")
    parser.add_argument("--partitions", type=int, default=0, help="0: as msrec export chooses")
    parser.add_argument("--probes", type=int, default=0, help="0: as msrec export chooses")
    parser.add_argument("--graph-items", type=int, default=20_000, help="items with graph sources (0: none)")
    parser.add_argument("--neighbors", type=int, default=100, help="graph sources per item")
    parser.add_argument("--queries", type=int, default=200, help="users timed and scored for recall")
    parser.add_argument("--seconds", type=float, default=20.0, help="timing per contender")
    parser.add_argument("--rounds", type=int, default=4, help="alternating slices of the timing")
    parser.add_argument("--workdir", help="where the SavedModels go (default: a temporary directory)")
    parser.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--heading", default="Retrieval", help="the docs section to replace")
    args = parser.parse_args(argv)
    rows = [
        "| catalogue | contender | partitions / probes (items scored) | export MB | p50 / p99 ms "
        "| speed-up (p50) | recall@100 vs brute force | vs float32 brute force |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for n in (int(c) for c in args.catalogs.split(",")):
            rows += measure(n, args, workdir)
    world = (
        "uniformly on the sphere (isotropic: the worst case)"
        if args.data == "isotropic"
        else f"around {args.topics:,} topics of {args.niches} niches, noise {args.noise}"
    )
    intro = (
        f"One user per request (query vector + 50 history ids -> top {TOP_K}), at one client, through "
        f"SavedModels of `trainer.retrieval.Retriever` loaded with `tf.saved_model.load`; synthetic unit "
        f"item and user vectors {world}. Speed-up: brute force's p50 over the contender's, same storage "
        "and graph. Recall@100: overlap of the contender's top 100 with brute force's, over "
        f"{args.queries} users."
    )
    common.publish(args.docs, args.heading, intro, "retrieval.py", argv, rows)


if __name__ == "__main__":
    main(sys.argv[1:])
