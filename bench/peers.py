"""Classic peers under PROTOCOL.md on a preprocessed msrec data directory.

Runs MostPopular, ItemKNN (cosine) and EASE^R (Steck 2019) on exactly the split that
``msrec preprocess`` wrote: the TRAIN, VALIDATION and TEST records of ``--data`` (GZIP
tf.Examples; only ``user_id``, ``item_id`` and ``seen_item_ids`` are read), and the catalog
of its ``candidates`` records. As in ``/work/shared/benchmarks/peers.md``, each peer is tuned
on VALIDATION (fit on TRAIN, rank each user's validation item, TRAIN items excluded), then
refit on TRAIN + VALIDATION and scored once on TEST (TRAIN + VALIDATION items excluded).
Ranks and metrics come from ``msrec.metrics`` (full catalog, ties count against the target).

Interactions are implicit: a user-item matrix of ones (weights are not used; PROTOCOL.md
merges duplicate pairs, so every record is one distinct pair).

    python bench/peers.py --data /tmp/t/ml --output runs/peers-ml.json

writes the JSON, and the markdown table next to it (``.md``), and prints the table. numpy only;
BLAS threads default to 1 (``--threads``) so that the script stays polite on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys


def _threads_from_argv(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


# BLAS reads these when numpy is first imported: set them before that.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_from_argv(sys.argv[1:]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from typing import Callable, Iterable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bench.interactions import Interactions, Split, described, load, with_split  # noqa: E402
from msrec import metrics  # noqa: E402

__all__ = ["Interactions", "Split", "load", "with_split"]  # read from here by bench/lead.py and tests

BATCH = 512  # users scored at a time: bounds the dense [users, catalog] score matrix
DEFAULT_KNN = (10, 20, 50, 100, 200, 0)  # 0 = every neighbour
DEFAULT_LAMBDAS = (10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0)


# ------------------------------------------------------------------------------------- models
# A scorer maps a batch of users' histories to their [B, catalog] scores.
Scorer = Callable[[list[np.ndarray]], np.ndarray]


def most_popular(data: Interactions) -> Scorer:
    popularity = data.popularity()
    return lambda histories: np.broadcast_to(popularity, (len(histories), len(popularity)))


def _item_item(data: Interactions, weights: np.ndarray) -> Scorer:
    """score(u, j) = sum over the user's items i of weights[i, j] (over ``data.items``). A history
    item without interactions in ``data`` has a zero row (so in both models), so it adds nothing."""
    position = np.full(data.num_items, -1, dtype=np.int64)
    position[data.items] = np.arange(len(data.items))

    def score(histories: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(histories), data.num_items), dtype=np.float32)
        rows = [position[h][position[h] >= 0] for h in histories]
        lengths = np.array([len(r) for r in rows])
        nonempty = np.flatnonzero(lengths)
        if len(nonempty):
            flat = np.concatenate([rows[i] for i in nonempty])
            offsets = np.concatenate([[0], np.cumsum(lengths[nonempty])[:-1]])
            out[np.ix_(nonempty, data.items)] = np.add.reduceat(weights[flat], offsets, axis=0)
        return out

    return score


def item_knn(data: Interactions, k: int, gram: np.ndarray | None = None) -> Scorer:
    """Cosine item-item similarity; each item keeps its ``k`` most similar items (0: all).

    score(u, j) = sum of cos(i, j) over the user's items i that have j among their k
    neighbours (item-based top-N, Deshpande & Karypis 2004; as ``implicit``'s
    CosineRecommender scores, which reproduces peers.md's ItemKNN row on MovieLens 100K).
    Only items with interactions take part; the others score 0.
    """
    if gram is None:
        gram = data.gram()
    norms = np.sqrt(np.diag(gram)).astype(np.float32)
    sim = gram / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    if k and k < len(data.items) - 1:
        # row i (a history item) keeps its k largest entries (ties at the cut: argpartition's order)
        cut = np.argpartition(-sim, k, axis=1)[:, k:]
        np.put_along_axis(sim, cut, 0.0, axis=1)
    return _item_item(data, sim)


def ease(data: Interactions, lam: float, gram: np.ndarray | None = None) -> Scorer:
    """EASE^R: B = I - P / diag(P), P = (X^T X + lambda I)^-1, diag(B) = 0.

    Items without interactions have B's rows and columns 0 exactly, so the inverse is
    taken over the items with interactions only; the others score 0.
    """
    if gram is None:
        gram = data.gram()
    g = gram.astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    del g
    b = (p / (-np.diag(p))).astype(np.float32)
    del p
    np.fill_diagonal(b, 0.0)
    return _item_item(data, b)


# --------------------------------------------------------------------------------- evaluation
def ranks(scorer: Scorer, data: Interactions, split: Split, user_index: dict[str, int]) -> np.ndarray:
    """Each ``split`` user's target rank (in ``split.users`` order): full catalog, seen items excluded."""
    rows = [user_index[u] for u in split.users]
    all_ranks = []
    for start in range(0, len(rows), BATCH):
        sl = slice(start, start + BATCH)
        scores = scorer([data.history(u) for u in rows[sl]])
        all_ranks.append(metrics.ranks(scores, split.targets[sl], split.seen[sl]))
    return np.concatenate(all_ranks) if all_ranks else np.array([])


def evaluate(scorer: Scorer, data: Interactions, split: Split, user_index: dict[str, int]) -> dict:
    """PROTOCOL.md's metrics of ``split``: full catalog, its seen items excluded."""
    return metrics.summarize(ranks(scorer, data, split, user_index))


def tune(
    name: str,
    grid: Iterable,
    build: Callable[[object], Scorer],
    data: Interactions,
    validation: Split,
    user_index: dict[str, int],
    log,
) -> tuple[object, dict]:
    """The grid value with the best VALIDATION NDCG@10 (first best on ties) and every score."""
    scores = {}
    best, best_value = None, -1.0
    for value in grid:
        t0 = time.perf_counter()
        result = evaluate(build(value), data, validation, user_index)
        scores[str(value)] = {k: result[k] for k in metrics.MAIN}
        log(
            f"  {name} {value}: validation NDCG@10 {result['NDCG@10']:.4f} HR@10 {result['HR@10']:.4f}"
            f" ({time.perf_counter() - t0:.1f}s)"
        )
        if result["NDCG@10"] > best_value:
            best, best_value = value, result["NDCG@10"]
    return best, scores


def run(
    data_dir: str, knn_grid: Sequence[int], lambdas: Sequence[float], log=print, train_fit: bool = False
) -> dict:
    """Every peer tuned, refit and scored; ``train_fit`` adds EASE^R fitted on TRAIN alone (no refit),
    scored on TEST with the same TRAIN + VALIDATION histories: what the refit adds."""
    t0 = time.perf_counter()
    catalog, user_index, pairs, validation, test = load(data_dir)
    num_users, num_items = len(user_index), len(catalog)
    log(
        f"data {data_dir}: {num_users} train users, {num_items} catalog items, {len(pairs)} train "
        f"interactions, {len(validation.users)} validation / {len(test.users)} test users "
        f"(read in {time.perf_counter() - t0:.1f}s)"
    )
    train_data = Interactions(num_users, num_items, pairs)
    full_data = Interactions(num_users, num_items, with_split(pairs, validation, user_index))
    log(f"items with interactions: {len(train_data.items)} TRAIN, {len(full_data.items)} TRAIN + VALIDATION")
    gram_train = train_data.gram()
    systems: dict[str, dict] = {}

    def final(name: str, fit: Callable[[], Scorer], params: dict, tuning: dict | None = None) -> None:
        found = refit(fit, full_data, test, user_index)
        systems[name] = found | {"params": params, "validation": tuning or {}}
        result = systems[name]["test"]
        log(
            f"{name} {params}: TEST HR@10 {result['HR@10']:.4f} NDCG@10 {result['NDCG@10']:.4f} "
            f"(fit {result['fit_seconds']:.1f}s)"
        )

    # MostPopular: popularity of TRAIN + VALIDATION (refit), and of TRAIN only.
    final("MostPopular", lambda: most_popular(full_data), {"counts": "train+validation"})
    final("MostPopular (train only)", lambda: most_popular(train_data), {"counts": "train"})

    def tuned(name: str, grid: Iterable, build: Callable[[object], Scorer]) -> tuple[object, dict]:
        log(f"tuning {name} on VALIDATION")
        return tune(name, grid, build, train_data, validation, user_index, log)

    k, knn_scores = tuned("ItemKNN k", knn_grid, lambda k: item_knn(train_data, int(k), gram_train))
    final("ItemKNN", lambda: item_knn(full_data, int(k)), {"k": int(k)}, knn_scores)
    lam, ease_scores = tuned("EASE^R lambda", lambdas, lambda lam: ease(train_data, float(lam), gram_train))
    gram_train = None  # free it before the refit (the tuning closures are done with it)
    final("EASE^R", lambda: ease(full_data, float(lam)), {"lambda": float(lam)}, ease_scores)
    if train_fit:
        final("EASE^R (fit on TRAIN only)", lambda: ease(train_data, float(lam)), {"lambda": float(lam)})

    return {
        **described(data_dir),
        "users_evaluated": len(test.users),
        "catalog": num_items,
        "train_interactions": int(len(pairs)),
        "train_users": num_users,
        "protocol": PROTOCOL,
        "systems": systems,
        "versions": {"python": platform.python_version(), "numpy": np.__version__},
        "seconds": round(time.perf_counter() - t0, 1),
    }


PROTOCOL = (
    "PROTOCOL.md: temporal leave-last-out, full catalog, ties against the target; "
    "tuned on VALIDATION (NDCG@10), refit on TRAIN + VALIDATION, scored on TEST"
)


def refit(fit: Callable[[], Scorer], data: Interactions, test: Split, user_index: dict[str, int]) -> dict:
    """``{"test", "segments"}`` of the scorer ``fit`` returns, on TEST with ``data``'s histories: the
    metrics (and the fit's seconds), and the metrics by history length (TRAIN + VALIDATION items), as
    ``trainer/evaluate.py`` splits msrec's."""
    t = time.perf_counter()
    scorer = fit()
    seconds = time.perf_counter() - t
    ranked = ranks(scorer, data, test, user_index)
    result = metrics.summarize(ranked) | {"fit_seconds": round(seconds, 2)}
    return {"test": result, "segments": metrics.by_history(ranked, [len(seen) for seen in test.seen])}


def table(result: dict) -> str:
    lines = [
        f"users evaluated: {result['users_evaluated']}, catalog: {result['catalog']} items, "
        f"train interactions: {result['train_interactions']}",
        "",
        "| system | HR@10 | NDCG@10 | HR@20 | NDCG@20 | MRR | fit seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, system in result["systems"].items():
        m = system["test"]
        params = ", ".join(f"{k}={v}" for k, v in system["params"].items() if k != "counts")
        label = f"{name} ({params})" if params else name
        cells = " | ".join(f"{m[k]:.4f}" for k in metrics.MAIN)
        lines.append(f"| {label} | {cells} | {m['fit_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a finished `msrec preprocess` output directory")
    p.add_argument("--output", required=True, help="JSON result; the markdown table goes next to it (.md)")
    p.add_argument(
        "--knn",
        default=",".join(map(str, DEFAULT_KNN)),
        help="ItemKNN neighbourhood sizes to try on VALIDATION (0 = all)",
    )
    p.add_argument(
        "--lambdas",
        default=",".join(f"{v:g}" for v in DEFAULT_LAMBDAS),
        help="EASE^R lambdas to try on VALIDATION",
    )
    p.add_argument("--threads", default="1", help="BLAS threads (default 1)")
    p.add_argument(
        "--train-fit",
        action="store_true",
        help="also score EASE^R fitted on TRAIN only (no refit), with the same TEST histories",
    )
    args = p.parse_args(argv)
    if not os.path.exists(os.path.join(args.data, "_SUCCESS")):
        raise SystemExit(f"peers: {args.data} is not a finished preprocessing output (no _SUCCESS)")
    result = run(
        args.data,
        [int(v) for v in args.knn.split(",") if v.strip()],
        [float(v) for v in args.lambdas.split(",") if v.strip()],
        log=lambda s: print(s, flush=True),
        train_fit=args.train_fit,
    )
    result["command"] = "python bench/peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    md = table(result)
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
