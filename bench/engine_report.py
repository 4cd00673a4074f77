"""The Engines benchmark's report (``bench/engine_runs.py``): the "## Engines" section of docs/benchmarks.md,
its tables and its plot, from the runs' result records."""

from __future__ import annotations

import argparse
import os
import sys

from bench import common

NAMES = {
    "direct": "DirectRunner multi_processing",
    "prism": "Prism (LOOPBACK)",
    "spark": "Spark standalone (EXTERNAL pool)",
}

INTRO = """What the same `msrec preprocess` and `msrec batch-predict` cost on each of Beam's engines that this
machine can run (`docs/dataflow.md` has the commands; Flink's job server is not served by Maven here).
Each run is one child process, measured with the services its engine keeps (`bench/processes.py`):

- *DirectRunner multi_processing*: `--direct_running_mode=multi_processing --direct_num_workers={workers}`;
  its SDK workers are the child's children.
- *Prism (LOOPBACK)*: `$(python bench/engines.py flags prism)`, Prism {beam} built from the Go module
  proxy; the runner starts the Prism binary as its child, and LOOPBACK runs the SDK harness inside the
  submitting process.
- *Spark standalone (EXTERNAL pool)*: a Spark {spark} master and one worker (2 cores, 4 GB) from pyspark,
  Beam's Spark job server {spark_beam} on it, SDK workers from an EXTERNAL worker pool
  (`python bench/engines.py start spark-cluster worker-pool`, `start spark --spark-master
  spark://127.0.0.1:7077`, `flags spark-external`), started afresh for each run and measured with it
  (their start-up is not timed).

*wall s*: the child process, interpreter and imports included; *job s*: the `seconds` the job reports
(`metadata.json`, or the batch job's `_SUCCESS` manifest). *peak RSS, all trees*: the resident memory of
the child's process tree and the services' trees, summed, sampled every {sample} s (shared pages count once
per process). *largest process*: the largest single process's high-water mark (`VmHWM`, and `/usr/bin/time
-v` for the child's own). *outputs*: `bench/outputs.compare` against the DirectRunner's output: metadata but
for clock fields, vocabularies byte for byte, every TFRecord and JSON-lines file as a multiset of records.
Synthetic data as in "Preprocessing" (users = interactions / 40, items = max(600, interactions / 50),
seed 0), `data.text_encoder=none`. A run is stopped after {timeout:g} min or above {limit} GiB."""

BATCH = """Batch inference: `msrec batch-predict` of {users:,} user ids (the {model_users} users of the
{size:,}-interaction data, repeated in vocabulary order) against a model trained on that data's
DirectRunner output by `msrec train --epochs 1` ({train_s}) and exported with `--no-blessing`: a
throughput test, not a quality one. *rows*: every row has the DirectRunner's top-K items for its user,
scores within 1e-5."""


def _wall(run: dict) -> str:
    ok = run["stopped"] is None and run["returncode"] == 0
    return f"{run['seconds']:.1f}" if ok else f"> {run['seconds']:.0f}"


def _mb(value: float) -> str:
    return f"{value:,.0f} MB" if value else "-"


def preprocess_table(rows: list[dict]) -> str:
    direct = {r["size"]: r["run"]["seconds"] for r in rows if r["engine"] == "direct" and "run" in r}
    lines = [
        "| interactions | engine | wall s | job s | events/s | peak RSS, all trees | largest process "
        "| wall / DirectRunner | outputs | commit | note |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        name = NAMES[r["engine"]]
        if "run" not in r:
            lines.append(
                f"| {r['size']:,} | {name} | - | - | - | - | - | - | - | {r['commit']} | {r['skipped']} |"
            )
            continue
        run, ok = r["run"], not r["note"]
        job = f"{r['pipeline_seconds']:.1f}" if ok else "-"
        rate = f"{r['size'] / run['seconds']:,.0f}" if ok else "-"
        ratio = f"{run['seconds'] / direct[r['size']]:.1f}x" if ok and r["size"] in direct else "-"
        lines.append(
            f"| {r['size']:,} | {name} | {_wall(run)} | {job} | {rate} | {_mb(run['tree_peak_mb'])} "
            f"| {_mb(run['process_peak_mb'])} | {ratio} | {r['equal']} | {r['commit']} "
            f"| {r['note'] or r.get('caveat', '')} |"
        )
    return "\n".join(lines)


def batch_table(rows: list[dict]) -> str:
    lines = [
        "| engine | requests | wall s | job s | requests/s (job) | peak RSS, all trees | largest process "
        "| rows | commit | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        run, ok = r["run"], not r["note"]
        job = f"{r['pipeline_seconds']:.1f}" if ok else "-"
        rate = f"{r['users'] / r['pipeline_seconds']:,.0f}" if ok and r["pipeline_seconds"] else "-"
        lines.append(
            f"| {NAMES[r['engine']]} | {r['users']:,} | {_wall(run)} | {job} | {rate} "
            f"| {_mb(run['tree_peak_mb'])} | {_mb(run['process_peak_mb'])} | {r['equal']} | {r['commit']} "
            f"| {r['note']} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (wall, memory) = plt.subplots(1, 2, figsize=(10, 4))
    for n, engine in enumerate(NAMES):
        done = [r for r in rows if r["engine"] == engine and "run" in r and not r["note"]]
        if not done:
            continue
        sizes = [r["size"] for r in done]
        wall.plot(sizes, [r["run"]["seconds"] for r in done], "o-", color=f"C{n}", label=NAMES[engine])
        peaks = [r["run"]["tree_peak_mb"] / 1024 for r in done]
        memory.plot(sizes, peaks, "o-", color=f"C{n}", label=NAMES[engine])
    wall.set(xscale="log", yscale="log", xlabel="interactions", ylabel="wall seconds")
    memory.set(xscale="log", xlabel="interactions", ylabel="peak RSS, all process trees (GiB)")
    for axis in (wall, memory):
        axis.grid(alpha=0.3, which="both")
        axis.margins(x=0.15)
        axis.legend(fontsize=8)
    figure.suptitle("msrec preprocess on Beam's engines (2 cores)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def batch_intro(row: dict, args: argparse.Namespace) -> str:
    model = row["model"]
    vocab = args.workdir / f"n{model['size']}" / "direct" / "vocab" / "user_id.txt"
    users = len(vocab.read_text().split()) if vocab.exists() else "?"
    train = f"{model['train']['run']['seconds']:.0f} s"
    return BATCH.format(users=row["users"], model_users=f"{users:,}", size=model["size"], train_s=train)


def write(rows: list[dict], batch: list[dict], args: argparse.Namespace) -> None:
    """Writes the section and the plot (``engines.png`` in ``--plot-dir``) and prints the section."""
    from bench import engines

    os.makedirs(args.plot_dir, exist_ok=True)
    png = os.path.join(args.plot_dir, "engines.png")
    plot(rows, png)
    intro = INTRO.format(
        workers=args.workers, beam=engines.beam_version(), spark=engines.SPARK_VERSION,
        spark_beam=engines.SPARK_BEAM_VERSION, sample=common.SAMPLE_SECONDS,
        timeout=args.timeout_minutes, limit=args.memory_limit_gb,
    )  # fmt: skip
    lock = "flock /work/cpu.lock nice -n 10"
    runs = dict.fromkeys(f"{lock} {r['bench']}  # at {r['commit']}, {r['date']}" for r in rows + batch)
    body = f"{intro}\n\n```\n{chr(10).join(runs)}\n```\n\n{common.machine()}\n\n"
    body += preprocess_table(rows) + f"\n\n![engines]({common.relative_link(png, args.docs)})\n"
    if batch:
        body += f"\n{batch_intro(batch[0], args)}\n\n{batch_table(batch)}\n"
    else:
        body += "\nBatch inference: not measured in these runs (`--batch-engines none`).\n"
    common.write_section(args.docs, "Engines", body)
    print(body)
    print(f"wrote {args.docs} and {png}", file=sys.stderr)
