"""Median latency of ``recommend_user`` in one or more exports, loaded as TF Serving loads them.

    python bench/served_latency.py EXPORT_BASE [EXPORT_BASE ...] [--user ID] [--rows 1,64]

Each base's newest version goes through the TF1 session loader (``serving.evaluate.SessionSignature``);
per row count, 5 warm-up requests, then the median of 30. Used for the cold-text term's cost
(``docs/benchmarks.md``, "The cold-text term, served").
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from msrec import features as F  # noqa: E402
from msrec import signatures as S  # noqa: E402


def median_ms(base: str, user: str, rows: int, repeats: int = 30) -> float:
    from serving.evaluate import SessionSignature

    version = str(max(S.versions(base)))
    signature = SessionSignature(str(pathlib.Path(base) / version), S.RECOMMEND_USER)
    ids = np.array([user.encode()] * rows, dtype=object)
    for _ in range(5):
        signature(**{F.USER_ID: ids})
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        signature(**{F.USER_ID: ids})
        times.append(time.perf_counter() - started)
    signature.close()
    return 1000 * float(np.median(times))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bases", nargs="+", help="export base paths (their newest version is timed)")
    parser.add_argument("--user", default="2", help="the user id asked for, repeated per row")
    parser.add_argument("--rows", default="1,64", help="rows per request, comma-separated")
    args = parser.parse_args(argv)
    for base in args.bases:
        for rows in (int(r) for r in args.rows.split(",")):
            print(f"{base}: {rows} rows, median {median_ms(base, args.user, rows):.1f} ms", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
