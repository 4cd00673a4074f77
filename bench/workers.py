"""Training on two workers against one: the same config trained by one ``python -m trainer.task`` and by two
under ``TF_CONFIG`` (``MultiWorkerMirroredStrategy``, the workers on localhost ports), timed, and each
evaluated on VALIDATION (``train.refit=false``: the run keeps its validation NDCG@10 per epoch in
``run.json``). It writes the "## Training on two workers" section of ``--docs``.

    flock /work/cpu.lock nice -n 10 python bench/workers.py --data DATA_DIR --workdir runs/workers

Only the training job's entry point and its ``run.json`` are used, so the model inside may change. With
two workers each process computes half of every global batch (the batch size stays the config's) and
the gradients are summed over both before each step, so both train one model: on one machine the
workers share its cores, and what two workers buy here is the overhead they add, not a speed-up. Each
run's result is kept as JSON in ``--workdir``; a rerun skips a run whose JSON is there.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shlex
import socket
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from bench import common, processes  # noqa: E402
from bench.preprocess import git_commit  # noqa: E402

HEADING = "Training on two workers"
METRIC = "val_NDCG@10"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_configs(count: int) -> list[str | None]:
    """Each worker's ``TF_CONFIG``; none for a single worker (the default strategy)."""
    if count == 1:
        return [None]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(count)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(count)]


def run_workers(commands: list[list[str]], envs: list[dict], logs: list[str], timeout_s: float) -> dict:
    """Starts every worker at once and waits for all; wall seconds, exit codes, summed peak memory."""
    started, peak, procs = time.perf_counter(), 0.0, []
    for command, env, log in zip(commands, envs, logs, strict=True):
        out = open(log, "w")
        procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO))
    while any(p.poll() is None for p in procs) and time.perf_counter() - started < timeout_s:
        peak = max(peak, processes.sample(processes.descendants(p.pid for p in procs))[0])
        time.sleep(common.SAMPLE_SECONDS)
    stopped = any(p.poll() is None for p in procs)
    for p in procs:
        if p.poll() is None:
            p.kill()  # our own child, past the timeout
        p.wait()
    seconds = round(time.perf_counter() - started, 1)
    codes = [p.returncode for p in procs]
    return {"seconds": seconds, "returncodes": codes, "peak_mb": round(peak), "stopped": stopped}


def train(count: int, args: argparse.Namespace) -> dict:
    """Trains with ``count`` workers into ``--workdir``/workers-COUNT; the result, saved as JSON."""
    path = args.workdir / f"workers-{count}.json"
    if path.exists():
        return json.loads(path.read_text())
    model_dir = args.workdir / f"workers-{count}"
    command = [common.PYTHON, "-m", "trainer.task", "--data", args.data, "--model-dir", str(model_dir)]
    command += [x for s in ["train.refit=false", *args.set] for x in ("--set", s)]
    command += ["--config", os.path.abspath(args.config)] if args.config else []
    command += ["--epochs", str(args.epochs)] if args.epochs else []
    envs = [{**os.environ, **({"TF_CONFIG": c} if c else {})} for c in tf_configs(count)]
    logs = [f"{model_dir}-worker{i}.log" for i in range(count)]
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"{count} worker(s): {shlex.join(command[1:])}", flush=True)
    measured = run_workers([command] * count, envs, logs, args.timeout_minutes * 60)
    result = {"workers": count, "command": shlex.join(command[1:]), "commit": git_commit(), **measured}
    if result["returncodes"] == [0] * count:
        result["run"] = json.loads((model_dir / "run.json").read_text())
        others = [model_dir / "workers" / f"worker-{i}" / "run.json" for i in range(1, count)]
        result["same_loss"] = all(json.loads(o.read_text())["loss"] == result["run"]["loss"] for o in others)
    else:
        failed = f"failed (exit {result['returncodes']}): {common.log_tail(logs[0], 3)}"
        result["note"] = f"stopped after {args.timeout_minutes:g} min" if result["stopped"] else failed
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def row(result: dict) -> str:
    if "run" not in result:
        return (
            f"| {result['workers']} | > {result['seconds']:.0f} | - | - | - | - | - | - | {result['note']} |"
        )
    run, curve = result["run"], result["run"][METRIC]
    best = f"{max(curve):.4f} (epoch {run['best_epoch']})" if curve else "-"
    last = f"{curve[-1]:.4f}" if curve else "-"
    note = "" if result.get("same_loss", True) else "the workers' losses differ"
    return (
        f"| {result['workers']} | {result['seconds']:.1f} | {run['seconds']:.1f} | {len(run['epochs'])} "
        f"| {best} | {last} | {result['peak_mb']:,} MB | {result.get('commit', '?')} | {note} |"
    )


def summary(one: dict, two: dict) -> str:
    """Two workers' best validation NDCG@10 and wall time, relative to one worker's."""
    if "run" not in one or "run" not in two or not one["run"][METRIC] or not two["run"][METRIC]:
        return "Not compared: a run failed or recorded no validation curve."
    a, b = max(one["run"][METRIC]), max(two["run"][METRIC])
    return (
        f"Two workers reach a best {METRIC} of {b:.4f} against one worker's {a:.4f} ({(b - a) / a:+.1%}), "
        f"in {two['seconds'] / one['seconds']:.2f}x its wall time."
    )


INTRO = """The same config trained by one `python -m trainer.task` and by two under `TF_CONFIG`
(`MultiWorkerMirroredStrategy`, both on this machine's cores, localhost ports), with `train.refit=false`
so that each run scores VALIDATION every epoch (early stopping keeps the best epoch). *wall s*: from
starting the workers to the last one's exit (TensorFlow's start-up included); *fit s*: `run.json`'s
`seconds`; *peak RSS*: the workers' processes summed, sampled every {sample} s. Data: {meta}, from
`msrec preprocess --dataset {dataset} --output DATA` (`DATA` = `{data}`). One run each: the two
workers' global batches are split and summed in another order, so their curves are not the one worker's
to the last digit, and a few percent apart is within what one seed differs from another (MovieLens
100K's per-seed TEST NDCG@10 spans 0.118 to 0.127 in docs/results.md)."""


HEADER = (
    "| workers | wall s | fit s | epochs | best val NDCG@10 | last val NDCG@10 | peak RSS | commit | note |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
)


def write_docs(results: list[dict], args: argparse.Namespace) -> None:
    meta = json.loads(pathlib.Path(args.data, "metadata.json").read_text())
    dataset = meta.get("dataset", "?")
    described = f"{dataset}, {meta.get('train_examples', 0):,} TRAIN examples"
    lines = [
        INTRO.format(sample=common.SAMPLE_SECONDS, data=args.data, meta=described, dataset=dataset),
        f"```\nflock /work/cpu.lock nice -n 10 {args.command}\n```",
        common.machine(),
        HEADER + "\n".join(row(r) for r in results),
        summary(*results),
    ]
    common.write_section(args.docs, HEADING, "\n\n".join(lines) + "\n")
    print("\n\n".join(lines[3:]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a finished msrec preprocess output")
    p.add_argument("--workdir", type=pathlib.Path, default=REPO / "runs" / "workers")
    p.add_argument("--config", help="a config file both runs train with")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for both runs")
    p.add_argument("--epochs", type=int, help="train.epochs for both runs")
    p.add_argument("--timeout-minutes", type=float, default=120.0, help="per run")
    p.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    args.command = common.command_line("workers.py", sys.argv[1:] if argv is None else argv)
    args.workdir, args.data = args.workdir.absolute(), os.path.abspath(args.data)
    write_docs([train(1, args), train(2, args)], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
