"""What the Engines benchmark's runs share (``bench/engine_runs.py``, ``bench/engine_batch.py``): each
engine's Beam flags and services, a measured child process, and results saved as JSON to resume from.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import pathlib
import shlex

from bench import common, engines, processes

ENGINES = ("direct", "prism", "spark")  # the DirectRunner first: every other engine is compared with it
SPARK_SERVICES = ("worker-pool", "spark-master", "spark-worker", "spark")
SPARK_MASTER = f"spark://127.0.0.1:{engines.DEFAULT_PORTS['spark-master']}"


def engine_flags(engine: str, workers: int) -> list[str]:
    """The Beam flags of ``engine``: the DirectRunner's multi_processing, Prism LOOPBACK, or Spark's
    job server on the standalone cluster with an EXTERNAL SDK worker pool."""
    if engine == "direct":
        return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return engines.flags("spark-external" if engine == "spark" else engine)


@contextlib.contextmanager
def services(engine: str):
    """For Spark: its master, worker, job server and SDK worker pool, started fresh for one run (those
    already running are reused and left running); yields the process ids to measure with the job."""
    if engine != "spark":
        yield []
        return
    running = engines.status()
    mine = [name for name in SPARK_SERVICES if not running.get(name, {}).get("running")]
    try:
        yield [engines.start(name, spark_master=SPARK_MASTER)["pid"] for name in SPARK_SERVICES]
    finally:
        for name in mine:
            engines.stop(name)


def msrec(*argv: str) -> list[str]:
    return [common.PYTHON, "-m", "msrec.app.cli", *argv]


def stamp(args: argparse.Namespace) -> dict:
    return {"commit": args.commit, "date": str(datetime.date.today()), "bench": args.command}


def measure(name: str, command: list[str], args: argparse.Namespace, engine: str, log: str) -> dict:
    """Runs ``command`` measured (with ``engine``'s services); the result record, not yet saved."""
    print(f"  {name}: {shlex.join(command[3:])}", flush=True)
    with services(engine) as roots:
        run = processes.run_measured(
            command, log, args.timeout_minutes * 60, args.memory_limit_gb * 1024, roots
        )
    note = run.stopped or ("" if run.ok else f"failed (exit {run.returncode}): {common.log_tail(log, 3)}")
    print(f"  {name}: {run.seconds:.1f} s, peak {run.tree_peak_mb:,.0f} MB {note}", flush=True)
    shown = "msrec " + shlex.join(command[3:])  # [python, -m, msrec.app.cli, ...]
    return {"run": dataclasses.asdict(run), "note": note, "command": shown, **stamp(args)}


def saved(path: pathlib.Path, make) -> dict:
    """The result in ``path``, or ``make()``'s, saved there: what makes the benchmark resumable."""
    if path.exists():
        return json.loads(path.read_text())
    result = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result
