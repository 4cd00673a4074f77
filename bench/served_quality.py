"""Served quality of a trained model's smaller and faster exports: HR@10 and NDCG@10 against the exact export.

From one model directory it writes three versions with ``msrec export`` (no retraining, no blessing):
``exact`` (brute force, float32), ``partitioned`` (partitioned retrieval, as ``msrec export`` would
partition a catalogue of 50,000 items or more: about ``4 * sqrt(items)`` partitions, 160 of them probed,
or ``--partitions``/``--probes``) and ``int8`` (brute force over int8 item vectors), then scores each
through ``msrec evaluate --export`` (``recommend_user`` for every held-out user, loaded as TF Serving
loads it) and reports each one's relative change from ``exact``. The targets: partitioned within 1 %,
int8 within 0.5 %.

    python bench/served_quality.py --model-dir runs/benchmark/movielens-100k/model-seed0 \\
        --workdir /tmp/quality-ml --output docs/served-quality-movielens-100k.json

It prints a markdown table; with ``--docs`` it also replaces that file's ``--heading`` section.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from bench import common  # noqa: E402
from msrec import signatures as S  # noqa: E402
from msrec.app import cli  # noqa: E402

EVERYTHING = str(2**62)  # --brute-force-below: no catalogue is partitioned
TARGETS = {"partitioned": 0.01, "int8": 0.005}
METRICS = ("HR@10", "NDCG@10")


def exports(args: argparse.Namespace) -> dict[str, list[str]]:
    """The ``msrec export`` flags of each version."""
    forced = ["--brute-force-below", "0"]
    forced += ["--partitions", str(args.partitions)] if args.partitions else []
    forced += ["--probes", str(args.probes)] if args.probes else []
    return {
        "exact": ["--brute-force-below", EVERYTHING],
        "partitioned": forced,
        "int8": ["--brute-force-below", EVERYTHING, "--embeddings", "int8"],
    }


def export_and_evaluate(name: str, flags: list[str], args: argparse.Namespace) -> dict:
    """One version: exported, then evaluated through its signatures; returns the served metrics."""
    base = os.path.join(args.workdir, name)
    data = ["--data", args.data] if args.data else []
    argv = ["export", "--model-dir", args.model_dir, "--export-base", base, "--no-blessing", *data, *flags]
    if cli.main(argv) != 0:
        raise SystemExit(f"msrec export failed for {name}")
    version = S.version_dir(base, S.versions(base)[-1])
    output = os.path.join(args.workdir, f"{name}.json")
    evaluate = ["evaluate", "--export", version, "--output", output, "--split", args.split, *data]
    if cli.main(evaluate) != 0:
        raise SystemExit(f"msrec evaluate failed for {name}")
    with open(output, encoding="utf-8") as f:
        served = json.load(f)["served"]
    with open(S.model_card(version), encoding="utf-8") as f:
        served["retrieval"] = json.load(f)["retrieval"]
    return served


def compare(results: dict[str, dict]) -> tuple[dict, list[str]]:
    """Each version's relative change from ``exact``, and the markdown table."""
    rows = [
        "| export | retrieval | HR@10 | NDCG@10 | change HR@10 | change NDCG@10 | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    exact, changes = results["exact"], {}
    for name, served in results.items():
        change = {m: served[m] / exact[m] - 1 if exact[m] else 0.0 for m in METRICS}
        changes[name] = change
        card = served["retrieval"]
        how = card["mode"] + (f", {card['partitions']} / {card['probes']}" if "partitions" in card else "")
        target = TARGETS.get(name)
        met = (
            "" if target is None else ("met" if max(abs(c) for c in change.values()) <= target else "missed")
        )
        goal = "" if target is None else f"within {target:.1%}: {met}"
        rows.append(
            f"| {name} | {how}, {card['embeddings']} | {served['HR@10']:.4f} | {served['NDCG@10']:.4f} "
            f"| {change['HR@10']:+.2%} | {change['NDCG@10']:+.2%} | {goal} |"
        )
    return changes, rows


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="a trained model directory")
    parser.add_argument("--data", help="its data directory (default: the one it was trained on)")
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--workdir", required=True, help="where the exports and their metrics go")
    parser.add_argument("--partitions", type=int, default=0, help="0: about 4 x sqrt(items)")
    parser.add_argument("--probes", type=int, default=0, help="0: 160, as msrec export")
    parser.add_argument("--output", help="JSON file for the results")
    parser.add_argument("--docs", help="a markdown file whose --heading section gets the table")
    parser.add_argument("--heading", default="Served quality")
    args = parser.parse_args(argv)
    results = {name: export_and_evaluate(name, flags, args) for name, flags in exports(args).items()}
    changes, rows = compare(results)
    report = {"model_dir": args.model_dir, "split": args.split, "served": results, "change": changes}
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, sort_keys=True)
    print("\n".join(rows))
    if args.docs:
        intro = (
            f"HR@10 and NDCG@10 on {args.split.upper()} as served (`msrec evaluate --export`, "
            f"`recommend_user` through the TF1 loader) of three exports of `{args.model_dir}`."
        )
        common.publish(args.docs, args.heading, intro, "served_quality.py", argv, rows)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
