"""Engines benchmark: ``msrec preprocess`` on the DirectRunner, on Prism and on a Spark standalone cluster;
batch inference on Prism against the DirectRunner. It writes the "## Engines" section of docs/benchmarks.md.

For each size (synthetic interactions, generated as ``bench/preprocess.py`` does: users = size / 40,
items = max(600, size / 50), seed 0) it runs ``msrec preprocess`` once per engine, each in its own child
process, measured together with the services the engine keeps (``bench/processes.py``): wall seconds,
peak resident memory of every process tree summed, the largest single process. Each engine's output is
compared with the DirectRunner's (``bench/outputs.compare``). Then (``bench/engine_batch.py``) a model
trained for one epoch on the DirectRunner's output at ``--model-size`` is exported and ``msrec
batch-predict`` ranks ``--batch-users`` user ids on each of ``--batch-engines``.

Every run leaves its result as JSON in ``--workdir``/results; a rerun skips every run whose JSON is there
(delete one to measure it again), so an interrupted benchmark resumes where it stopped. Run it alone,
under the machine's CPU lock:

    flock /work/cpu.lock nice -n 10 python bench/engine_runs.py --workdir runs/engines
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import shutil
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import synthetic  # noqa: E402 - numpy only
from bench import common  # noqa: E402
from bench.engine_jobs import ENGINES, engine_flags, measure, msrec, saved, stamp  # noqa: E402
from bench.preprocess import git_commit, spec_for  # noqa: E402


def raw_data(size: int, workdir: pathlib.Path) -> str:
    """The synthetic raw files of ``size`` interactions, generated once (seeded: the same every time)."""
    spec, raw = spec_for(size), workdir / f"n{size}" / "raw"
    marker = raw / ".spec.json"
    if not (marker.exists() and marker.read_text() == json.dumps(dataclasses.asdict(spec))):
        print(
            f"{size:,} interactions: generating {spec.num_users:,} users, {spec.num_items:,} items",
            flush=True,
        )
        synthetic.generate(str(raw), spec)
        marker.write_text(json.dumps(dataclasses.asdict(spec)))
    return str(raw)


def skip_reason(size: int, engine: str, args: argparse.Namespace) -> str:
    if engine == "spark" and size > args.spark_max_size:
        return f"skipped above --spark-max-size {args.spark_max_size:,}: {SPARK_SKIP}"
    return ""


# Why Spark stops at --spark-max-size by default: what the tiny corpus cost there (bench/README.md).
SPARK_SKIP = (
    "Beam's Spark runner runs every fused stage as a Spark job of its own through the portable API; "
    "the 14-interaction tiny corpus took 100 s on local[2] and 10 min on the standalone cluster"
)


def preprocess(size: int, engine: str, args: argparse.Namespace) -> dict:
    """One ``msrec preprocess`` run of ``size`` interactions on ``engine``, compared with the
    DirectRunner's output; its result JSON is kept in ``--workdir``/results."""
    base = args.workdir / f"n{size}"
    out, direct = base / engine, base / "direct"

    def make() -> dict:
        record = {"size": size, "engine": engine, "equal": "-", **stamp(args)}
        if reason := skip_reason(size, engine, args):
            return {**record, "skipped": reason}
        shutil.rmtree(out, ignore_errors=True)  # an interrupted run's files (msrec refuses to overwrite them)
        command = msrec("preprocess", "--dataset", "synthetic", "--input", raw_data(size, args.workdir))
        command += ["--set", "data.text_encoder=none", "--output", str(out)]  # the pipeline, not the encoder
        command += engine_flags(engine, args.workers)
        record.update(measure(f"{size:,} {engine}", command, args, engine, f"{out}.log"))
        if not record["note"]:
            record["pipeline_seconds"] = json.loads((out / "metadata.json").read_text())["seconds"]
            record["equal"] = compare(direct, out) if engine != "direct" else "reference"
        if engine != "direct" and not args.keep_outputs:
            shutil.rmtree(out, ignore_errors=True)
        return record

    return saved(args.workdir / "results" / f"preprocess-{size}-{engine}.json", make)


def compare(direct: pathlib.Path, out: pathlib.Path) -> str:
    """``equal``, or what differs from the DirectRunner's output (``bench/outputs.compare``)."""
    from bench import outputs  # TensorFlow, only here

    if not (direct / "_SUCCESS").exists():
        return "not compared: the DirectRunner's run did not finish"
    started = time.perf_counter()
    differences = outputs.compare(str(direct), str(out))
    print(f"  compared with the DirectRunner's in {time.perf_counter() - started:.0f} s", flush=True)
    return "equal" if not differences else "DIFFERENT: " + "; ".join(differences)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    names = lambda text: text.split(",")  # noqa: E731
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=ints, default=[1_000_000, 10_000_000], help="interactions")
    p.add_argument("--engines", type=names, default=list(ENGINES), help="of direct,prism,spark")
    p.add_argument("--workers", type=int, default=2, help="the DirectRunner's direct_num_workers")
    p.add_argument("--spark-max-size", type=int, default=1_000_000, help="larger sizes skip Spark")
    p.add_argument("--model-size", type=int, default=1_000_000, help="the data the batch model trains on")
    p.add_argument("--batch-users", type=int, default=100_000, help="user ids batch inference ranks")
    p.add_argument("--batch-engines", type=names, default=["direct", "prism"], help="0 to skip: none")
    p.add_argument("--timeout-minutes", type=float, default=180.0, help="per run")
    default_limit = round(common.memory_total_mb() / 1024 * 0.7, 1)
    p.add_argument("--memory-limit-gb", type=float, default=default_limit, help="per run (RAM x 0.7)")
    p.add_argument("--workdir", type=pathlib.Path, default=REPO / "runs" / "engines")
    p.add_argument(
        "--keep-outputs", action="store_true", help="keep every engine's output, not only direct's"
    )
    p.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    p.add_argument("--plot-dir", default=str(REPO / "docs"))
    p.add_argument("--commit", default=None, help="the code measured (default: git's HEAD)")
    args = p.parse_args(argv)
    unknown = set(args.engines + args.batch_engines) - set(ENGINES) - {"none"}
    if unknown:
        p.error(f"no engine {', '.join(sorted(unknown))}: direct, prism, spark")
    args.engines = [e for e in ENGINES if e in args.engines and e != "direct"]  # direct runs first anyway
    args.batch_engines = [e for e in args.batch_engines if e != "none"]
    args.workdir = args.workdir.absolute()
    args.command = common.command_line("engine_runs.py", argv)
    args.commit = args.commit or git_commit()
    return args


def main(argv: list[str] | None = None) -> int:
    from bench import engine_batch, engine_report

    args = parse_args(sys.argv[1:] if argv is None else argv)
    rows = []
    for size in args.sizes:
        rows += [preprocess(size, engine, args) for engine in ["direct", *args.engines]]
    batch = []
    if args.batch_engines:
        preprocess(args.model_size, "direct", args)
        batch = engine_batch.run(args)
    engine_report.write(rows, batch, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
