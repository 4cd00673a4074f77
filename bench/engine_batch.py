"""The batch-inference half of the Engines benchmark (``bench/engine_jobs.py``): one exported model, many
user ids, ``msrec batch-predict`` on each engine, the rows compared with the DirectRunner's.

The model is a throughput test's, not a good one: ``msrec train --epochs 1`` on the DirectRunner's
preprocessing output at ``--model-size``, then ``msrec export --no-blessing``. The requests are
``--batch-users`` lines of user ids: the data's users in vocabulary order, repeated as needed (1 M
interactions have 25,000 users, so 100,000 lines ask for each one four times).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import pathlib
import shutil

from bench import engine_jobs

SCORE_TOLERANCE = 1e-5  # engines batch users differently, and a batch's matmul may sum in another order


def model(args: argparse.Namespace, data_dir: pathlib.Path) -> dict:
    """Trains (one epoch) and exports the model once; its result is ``results/model.json``."""
    base = args.workdir / "batch"

    def make() -> dict:
        shutil.rmtree(base / "model", ignore_errors=True)
        shutil.rmtree(base / "export", ignore_errors=True)
        base.mkdir(parents=True, exist_ok=True)
        train = engine_jobs.msrec("train", "--data", str(data_dir), "--model-dir", str(base / "model"))
        record = engine_jobs.measure("train", [*train, "--epochs", "1"], args, "direct", f"{base}/train.log")
        if not record["note"]:
            export = ["export", "--model-dir", str(base / "model"), "--export-base", str(base / "export")]
            done = engine_jobs.measure(
                "export", engine_jobs.msrec(*export, "--no-blessing"), args, "direct", f"{base}/export.log"
            )
            record["note"] = done["note"] and f"export {done['note']}"
        return {"size": args.model_size, "export": str(base / "export"), "train": record}

    return engine_jobs.saved(args.workdir / "results" / "model.json", make)


def requests(args: argparse.Namespace, data_dir: pathlib.Path) -> str:
    """The users file: ``--batch-users`` lines, the vocabulary's user ids over and over."""
    path = args.workdir / "batch" / f"users-{args.batch_users}.txt"
    if not path.exists():
        users = (data_dir / "vocab" / "user_id.txt").read_text().split()
        repeated = users * math.ceil(args.batch_users / len(users))
        path.write_text("".join(f"{u}\n" for u in repeated[: args.batch_users]))
    return str(path)


def rows(folder: pathlib.Path) -> list[dict]:
    files = sorted(set(glob.glob(f"{folder}/part-*.jsonl")) - set(glob.glob(f"{folder}/part-dead_letter-*")))
    return [json.loads(line) for path in files for line in open(path)]


def same_rows(direct: pathlib.Path, other: pathlib.Path) -> str:
    """``equal`` when every row has the DirectRunner's items for its user, with scores within
    ``SCORE_TOLERANCE``; else how many rows differ."""
    reference = rows(direct)
    expected, found, total = {r["user_id"]: r for r in reference}, rows(other), len(reference)
    differ, gap = 0, 0.0
    for row in found:
        want = expected.get(row["user_id"])
        if want is None or row["item_ids"] != want["item_ids"]:
            differ += 1
            continue
        gap = max([gap, *(abs(a - b) for a, b in zip(row["scores"], want["scores"], strict=True))])
    if differ or len(found) != total or gap > SCORE_TOLERANCE:
        rows_differ = f"{differ:,} of {len(found):,} rows (the DirectRunner's: {total:,})"
        return f"DIFFERENT: {rows_differ}, scores within {gap:.1e}"
    return f"equal (scores within {gap:.0e})" if gap else "equal"


def batch(engine: str, args: argparse.Namespace, export: str, users: str) -> dict:
    """One ``msrec batch-predict`` run on ``engine``; ``results/batch-ENGINE.json``."""
    out = args.workdir / "batch" / engine

    def make() -> dict:
        record = {"engine": engine, "users": args.batch_users, "equal": "-"}
        shutil.rmtree(out, ignore_errors=True)
        command = engine_jobs.msrec(
            "batch-predict", "--model", export, "--input", users, "--output", f"{out}/"
        )
        command += engine_jobs.engine_flags(engine, args.workers)
        record.update(engine_jobs.measure(f"batch {engine}", command, args, engine, f"{out}.log"))
        if not record["note"]:
            record["pipeline_seconds"] = json.loads((out / "_SUCCESS").read_text())["seconds"]
            direct = args.workdir / "batch" / "direct"
            record["equal"] = same_rows(direct, out) if engine != "direct" else "reference"
        return record

    return engine_jobs.saved(args.workdir / "results" / f"batch-{engine}.json", make)


def run(args: argparse.Namespace) -> list[dict]:
    """The model, the requests and one batch run per engine (the DirectRunner's first)."""
    data_dir = args.workdir / f"n{args.model_size}" / "direct"
    if not (data_dir / "_SUCCESS").exists():
        print(f"batch inference: no finished DirectRunner output at {args.model_size:,}", flush=True)
        return []
    trained = model(args, data_dir)
    if trained["train"]["note"]:
        print(f"batch inference: no model ({trained['train']['note']})", flush=True)
        return []
    users = requests(args, data_dir)
    engines = ["direct", *(e for e in args.batch_engines if e != "direct")]
    return [{**batch(engine, args, trained["export"], users), "model": trained} for engine in engines]
