"""Item scoring graph benchmark: time and peak memory of the EASE^R regression by number of covered items.

Preprocessing fits ``preprocessing.scoring_graph.regression`` on one worker over a dense float32 square
matrix of the most frequent TRAIN items that fit ``data.regression_memory_gib`` (4 GiB: 32,768 items).
For each size this runs it in a child process on random item sets (``--users``, each with
``--per-user`` distinct items drawn with a Zipf-like popularity), so the wall time and the peak
resident memory are the regression's own, and replaces the "## Item scoring graph" section of ``--docs``.

    python bench/regression.py --items 2000,5000,10000,20000,32768
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402

from bench import common  # noqa: E402


def fit(items: int, users: int, per_user: int) -> float:
    """Seconds of one regression over ``items`` items (the child's work)."""
    from msrec import config
    from preprocessing import scoring_graph

    rng = np.random.default_rng(0)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    popularity /= popularity.sum()
    sets = [
        np.unique(rng.choice(items, min(per_user, items), replace=False, p=popularity)) for _ in range(users)
    ]
    data = config.DataConfig()
    names = [f"i{i}" for i in range(items)]
    start = time.perf_counter()
    fitted = scoring_graph.regression(sets, names, data.regression_l2, data.regression_neighbors)
    edges = sum(len(s) for _, s in fitted)
    seconds = time.perf_counter() - start
    print(f"{items} items: {edges:,} edges in {seconds:.1f} s", flush=True)
    return seconds


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", default="2000,5000,10000,20000,32768", help="covered item counts, comma-separated"
    )
    parser.add_argument("--users", type=int, default=2000, help="users (item sets)")
    parser.add_argument("--per-user", type=int, default=50, help="distinct items per user")
    parser.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child: fit one size
    args = parser.parse_args(argv)
    if args.one:
        fit(args.one, args.users, args.per_user)
        return
    rows = ["| covered items | seconds | peak memory (GiB) |", "|---|---|---|"]
    for items in (int(n) for n in args.items.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            log = f"{tmp}/fit.log"
            child = [common.PYTHON, __file__, "--one", str(items), "--users", str(args.users)]
            run = common.run_measured(
                child + ["--per-user", str(args.per_user)], log, 3600, common.memory_total_mb() * 0.9
            )
            tail = common.log_tail(log, 1)
        if not run.ok:
            rows.append(f"| {items:,} | {run.stopped or f'failed: {tail}'} | |")
        else:
            seconds = float(tail.rsplit(" in ", 1)[1].split()[0])
            rows.append(f"| {items:,} | {seconds:.1f} | {run.peak_mb / 1024:.2f} |")
        print(rows[-1], flush=True)
    intro = (
        "`preprocessing.scoring_graph.regression` (EASE^R, `data.regression_l2` and "
        "`data.regression_neighbors` "
        f"at their defaults) on {args.users:,} random users of {args.per_user} items each, one child process "
        "per size: wall time of the regression (building the matrix, inverting it, keeping each item's "
        "largest weights) and the child's peak resident memory (Python and NumPy included). The inversion "
        "grows with the cube of the covered items and the memory with the square (one float32 matrix, "
        "inverted in place by LAPACK: 4 bytes per cell); `data.regression_memory_gib` (4 GiB, 32,768 items) "
        "bounds the memory, and with it the time."
    )
    common.publish(args.docs, "Item scoring graph", intro, "regression.py", argv, rows)


if __name__ == "__main__":
    main(sys.argv[1:])
