"""Preprocessing benchmark: the Beam pipeline on the DirectRunner against a single-process pandas reference.

For each size it generates the synthetic dataset once (users = size / 40, items = max(600, size / 50)),
then runs, each in its own measured child process (wall time, peak memory, see ``bench/common.py``):
``msrec preprocess`` once per DirectRunner mode, then ``common.reference``, a pandas computation of the
same split, features and item scoring graph. It checks that the reference's test-split fingerprint, example
counts, TRAIN vocabularies and scoring graph equal the pipeline's, prints a markdown table, writes a log-log
scaling plot and replaces the "## Preprocessing" section of ``--docs``.

    python bench/preprocess.py --sizes 100000,1000000,10000000,25000000 --modes in_memory,multi_processing \
        --modes-at 10000000=in_memory --modes-at 25000000=in_memory --timeout-minutes 75
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import synthetic  # noqa: E402 - numpy only; ``split`` (Beam) is imported when needed
from bench import common  # noqa: E402

RESULTS = REPO / "docs" / "preprocessing-runs.json"
MODES = ("pandas", "in_memory", "multi_threading", "multi_processing")  # the table's order within a size
OUTPUTS = ("dead_letter", "vocab", "train", "validation", "test", "users", "candidates", "stats.json")


@dataclasses.dataclass
class Row:
    size: int
    mode: str  # a DirectRunner mode, or "pandas"
    run: common.Measured
    pipeline_seconds: float | None = None  # inside the process, without interpreter and import start-up
    note: str = ""
    commit: str = ""  # the code measured
    date: str = ""
    command: str = ""  # the bench command that measured it

    @classmethod
    def load(cls, record: dict) -> Row:
        return cls(**{**record, "run": common.Measured(**record["run"])})

    @property
    def events_per_second(self) -> float:
        return self.size / self.run.seconds if self.run.ok else float("nan")


def spec_for(size: int) -> synthetic.SyntheticSpec:
    return synthetic.SyntheticSpec(
        num_users=size // 40, num_items=max(600, size // 50), num_interactions=size
    )


def beam_command(mode: str, raw: str, out: str, workers: int) -> list[str]:
    command = [common.PYTHON, "-m", "msrec.app.cli", "preprocess", "--dataset", "synthetic", "--input", raw]
    command += ["--set", "data.text_encoder=none"]  # the scale test is the pipeline's, not the encoder's
    command += ["--output", out, f"--direct_running_mode={mode}"]
    return command + ([f"--direct_num_workers={workers}"] if mode != "in_memory" else [])


def stage_reached(out: str) -> str:
    """What a killed pipeline had written: finished outputs, and those still in Beam's temp dirs."""
    done, writing = [], []
    for name in OUTPUTS:
        path = pathlib.Path(out, name)
        if not path.exists():
            continue
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        if not files:
            continue  # Beam creates each write's empty temp directory when the pipeline starts
        (writing if all("beam-temp" in str(p) for p in files) else done).append(name)
    if not done and not writing:
        return "nothing written yet (still reading, splitting or grouping)"
    return "; ".join(
        f"{what}: {', '.join(names)}" for what, names in (("done", done), ("writing", writing)) if names
    )


def same_scoring_graph(
    ref_dir: str, beam_dir: str, name: str = "scoring_graph", tolerance: float = 1e-5
) -> str:
    """``same`` when both runs give every item the same sources with weights within ``tolerance``
    (LAPACK's threads may sum in another order) in graph ``name``, else what differs."""
    ref_file = pathlib.Path(ref_dir, f"{name}.jsonl")
    ref = dict(json.loads(line) for line in ref_file.read_text().splitlines())
    beam = {}
    for f in pathlib.Path(beam_dir, name).glob("*.jsonl"):
        beam.update(json.loads(line) for line in f.read_text().splitlines())
    if set(ref) != set(beam):
        return f"DIFFERENT items ({len(ref):,} against {len(beam):,})"
    differ = [item for item in ref if dict(ref[item]).keys() != dict(beam[item]).keys()]
    gap = max((abs(w - dict(beam[i])[s]) for i in ref if i not in differ for s, w in ref[i]), default=0.0)
    return (
        "same" if not differ and gap <= tolerance else f"DIFFERENT ({len(differ)} items' sources; {gap:.1e})"
    )


def checks(ref_dir: str, beam_dir: str) -> tuple[bool, str]:
    """Compares the reference's split fingerprint, example counts and TRAIN vocabularies with Beam's."""
    from msrec import paths
    from preprocessing import split

    ref = json.loads(pathlib.Path(ref_dir, "reference.json").read_text())
    meta = json.loads(pathlib.Path(beam_dir, "metadata.json").read_text())
    lines = pathlib.Path(ref_dir, "test_lines.txt").read_text().splitlines(keepends=True)
    found = {"test_split_sha256": (split.fingerprint(lines), meta["test_split_sha256"])}
    for key in ("train_examples", "validation_examples", "test_examples", "users", "catalog_items"):
        found[key] = (ref[key], meta[key])
    for name in ("vocab/item_id.txt", "vocab/user_id.txt", "item_counts.txt"):
        ref_lines, beam_lines = (pathlib.Path(d, name).read_text().split() for d in (ref_dir, beam_dir))
        found[name] = ("same" if ref_lines == beam_lines else "DIFFERENT", "same")
    for name in (paths.SCORING_GRAPH, paths.SCORING_GRAPH_REFIT):
        found[name] = (same_scoring_graph(ref_dir, beam_dir, name), "same")
    report = "\n".join(f"  {key}: pandas {a}  beam {b}" for key, (a, b) in found.items())
    return all(a == b for a, b in found.values()), report


def bench_size(size: int, args: argparse.Namespace, workdir: str) -> list[Row]:
    base = os.path.join(workdir, f"n{size}")
    raw, limit = os.path.join(base, "raw"), args.memory_limit_gb * 1024
    spec = spec_for(size)
    print(f"{size:,} interactions: generating {spec.num_users:,} users, {spec.num_items:,} items", flush=True)
    marker = pathlib.Path(raw, ".spec.json")
    if not (marker.exists() and marker.read_text() == json.dumps(dataclasses.asdict(spec))):
        synthetic.generate(raw, spec)  # seeded: the same files every time
        marker.write_text(json.dumps(dataclasses.asdict(spec)))
    ref_dir = os.path.join(base, "pandas")
    rows, outs = [], {}
    for mode in [
        m for m in args.modes_at.get(size, args.modes) if m
    ]:  # the pipeline first: it is what the table is for
        outs[mode] = out = os.path.join(base, mode)
        shutil.rmtree(out, ignore_errors=True)  # a kept earlier run's outputs (msrec will not overwrite)
        command = beam_command(mode, raw, out, args.workers)
        run = common.run_measured(command, out + ".log", args.timeout_minutes * 60, limit)
        row = Row(size, mode, run)
        if run.ok:
            row.pipeline_seconds = json.loads(pathlib.Path(out, "metadata.json").read_text())["seconds"]
        elif run.stopped:
            row.note = f"{run.stopped}; reached: {stage_reached(out)}"
        else:
            row.note = f"failed (exit {run.returncode}), see the log"
            print(common.log_tail(out + ".log"), file=sys.stderr)
        print(f"  {mode}: {run.seconds:.1f} s, peak {run.peak_mb:.0f} MB {row.note}", flush=True)
        rows.append(row)
    command = [common.PYTHON, str(REPO / "bench" / "preprocess.py"), "--reference", raw, ref_dir]
    ref_limit = args.reference_memory_limit_gb * 1024  # the target's guard is the pipeline's, not pandas'
    measured = pathlib.Path(ref_dir + ".measured.json")
    if args.reuse_reference and measured.exists():  # the reference's code and data did not change
        kept = json.loads(measured.read_text())
        run, stamp = common.Measured(**kept.pop("run")), kept
        print(f"  pandas: reusing {measured} (measured at {stamp['commit']}, {stamp['date']})", flush=True)
    else:
        run = common.run_measured(command, ref_dir + ".log", args.timeout_minutes * 60, ref_limit)
        stamp = {"commit": args.commit, "date": str(datetime.date.today()), "command": args.command}
        measured.write_text(json.dumps({"run": dataclasses.asdict(run), **stamp}))
    ref_ok = run.ok
    summary = json.loads(pathlib.Path(ref_dir, "reference.json").read_text()) if ref_ok else {}
    note = run.stopped or ("" if ref_ok else f"failed (exit {run.returncode}), see the log")
    if ref_ok:
        note = f"of which the scoring graph {summary['scoring_graph_seconds']:.0f} s"
    rows.insert(0, Row(size, "pandas", run, summary.get("seconds"), note, **stamp))
    print(f"  pandas: {run.seconds:.1f} s, peak {run.peak_mb:.0f} MB {note}", flush=True)
    check_report = ""
    for row in rows[1:]:
        if row.run.ok and ref_ok:
            same, report = checks(ref_dir, outs[row.mode])
            row.note = "outputs match pandas" if same else "OUTPUTS DIFFER from pandas"
            check_report += f"{row.mode} vs pandas at {size:,}:\n{report}\n"
    print(check_report, end="", flush=True)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return rows


def merge(path: str, new: list[Row], fresh: bool) -> list[Row]:
    """This run's rows, plus (unless ``fresh``) the earlier rows in ``path`` of the sizes and modes not
    rerun; all of them are written back to ``path``."""
    file = pathlib.Path(path)
    old = [] if fresh or not file.exists() else [Row.load(r) for r in json.loads(file.read_text())]
    rerun = {(r.size, r.mode) for r in new}
    rows = [r for r in old if (r.size, r.mode) not in rerun] + new
    rows.sort(key=lambda r: (r.size, MODES.index(r.mode) if r.mode in MODES else len(MODES), r.mode))
    file.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1) + "\n")
    return rows


def git_commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else "unknown"


def exponents(rows: list[Row]) -> dict[str, str]:
    """Per mode, d log(seconds) / d log(size) between consecutive finished sizes: 1.0 is linear."""
    result = {}
    for mode in dict.fromkeys(r.mode for r in rows):
        done = [r for r in rows if r.mode == mode and r.run.ok]
        slopes = [
            math.log(b.run.seconds / a.run.seconds) / math.log(b.size / a.size)
            for a, b in zip(done, done[1:], strict=False)
        ]
        result[mode] = ", ".join(f"{s:.2f}" for s in slopes) or "-"
    return result


def headline(rows: list[Row]) -> str:
    """The wall-time ratios to pandas at 1 million interactions, or else at the largest size with both."""
    pandas = {r.size: r.run.seconds for r in rows if r.mode == "pandas" and r.run.ok}
    beam = [r for r in rows if r.mode != "pandas" and r.size in pandas]
    sizes = [r.size for r in beam if r.run.ok]
    size = 1_000_000 if 1_000_000 in pandas and beam else max(sizes, default=None)
    ratios = [
        f"{r.mode} {r.run.seconds / pandas[r.size]:.1f}x" if r.run.ok else f"{r.mode} did not finish"
        for r in beam
        if r.size == size
    ]
    return f"at {size:,} interactions, {', '.join(ratios)}" if ratios else "no size where both finished"


def table(rows: list[Row]) -> str:
    pandas = {r.size: r.run.seconds for r in rows if r.mode == "pandas" and r.run.ok}
    lines = [
        "| interactions | mode | wall s | pipeline s | events/s | peak RSS, tree | largest process "
        "| wall / pandas | commit | note |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        wall = f"{r.run.seconds:.1f}" if r.run.ok else f"> {r.run.seconds:.0f}"
        ratio = f"{r.run.seconds / pandas[r.size]:.1f}x" if r.run.ok and r.size in pandas else "-"
        inner = f"{r.pipeline_seconds:.1f}" if r.pipeline_seconds is not None else "-"
        rate = f"{r.events_per_second:,.0f}" if r.run.ok else "-"
        largest = f"{r.run.process_peak_mb:,.0f} MB" if r.run.process_peak_mb else "-"
        lines.append(
            f"| {r.size:,} | {r.mode} | {wall} | {inner} | {rate} | {r.run.peak_mb:,.0f} MB | {largest} "
            f"| {ratio} | {r.commit} | {r.note} |"
        )
    return "\n".join(lines)


def plot(rows: list[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for n, mode in enumerate(dict.fromkeys(r.mode for r in rows)):
        done = [r for r in rows if r.mode == mode and r.run.ok]
        axis.plot([r.size for r in done], [r.run.seconds for r in done], "o-", color=f"C{n}", label=mode)
        for r in (r for r in rows if r.mode == mode and not r.run.ok):
            axis.plot([r.size], [r.run.seconds], "^", color=f"C{n}", mfc="none", ms=10)
            axis.annotate(
                "stopped", (r.size, r.run.seconds), fontsize=7, xytext=(5, 0), textcoords="offset points"
            )
    sizes = sorted({r.size for r in rows})
    first = min((r for r in rows if r.run.ok), key=lambda r: (r.size, r.run.seconds), default=None)
    if first and len(sizes) > 1:
        linear = [first.run.seconds * s / first.size for s in sizes]
        axis.plot(sizes, linear, ":", color="grey", label="slope 1 (linear)")
    axis.set(xscale="log", yscale="log", xlabel="interactions", ylabel="wall seconds (process)")
    axis.grid(alpha=0.3, which="both")
    axis.margins(x=0.12)
    axis.legend(fontsize=8)
    axis.set_title("msrec preprocess (DirectRunner) vs a single-process pandas reference", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


SECTION = """Each row is one child process: `msrec preprocess --dataset synthetic --input RAW
--direct_running_mode=MODE` (`--direct_num_workers={workers}` for the multi-worker modes), or
`bench/preprocess.py --reference RAW OUT` (`reference` in `bench/common.py`), a single-process
pandas/numpy computation of the same split (PROTOCOL.md), TRAIN vocabularies, histories, item co-occurrence,
social and scoring graphs, with every example written to parquet. Synthetic data: users = interactions / 40,
items = max(600, interactions / 50), seed 0; generation is not timed.

- Each row names the commit it measured. A run adds its rows to `{results}` and the table shows them with
  the earlier rows of the sizes and modes it did not rerun (`--fresh` starts over).
- *wall s*: the whole process, interpreter and imports included (what a user waits for); *pipeline s*: the
  `seconds` the process reports itself (Beam: `metadata.json`, from building the pipeline to its end).
- *events/s*: interactions read / wall seconds. *wall / pandas*: the goal is at most 3x at 1 million;
  reached: {headline} the pandas wall time.
- *peak RSS, tree*: the summed resident memory of the process and all its children, sampled every
  {sample} s (for multi_processing this includes the SDK worker processes; shared pages count once per
  process). *largest process*: `/usr/bin/time -v`'s maximum resident set size of a single process.
- Runs are stopped after {timeout:g} min or above {limit} GiB of tree memory (the pandas reference above
  {reference_limit} GiB); a stopped row says which outputs the pipeline had finished and which it was still
  writing.
- Growth exponent (d log seconds / d log interactions between consecutive sizes; 1.0 is linear): {exponents}.
- The pipeline runs with `data.text_encoder=none` (the encoder's throughput is in "Text encoder") and
  with the item scoring graph: EASE^R over the most frequent TRAIN items within `data.regression_memory_gib`
  (4 GiB: up to 32,768; these catalogs have 2,000, 20,000, 200,000 and 500,000 items), in the process's
  time and memory. The pandas reference fits the same graph with the same function
  (`preprocessing.scoring_graph.regression`), so *wall / pandas* compares like with like; the regression's own
  seconds are in the pandas rows' note.
- Not in the reference: the duplicate check (a `GroupByKey` on every row's text), the content and profile
  vocabularies and the per-example item-content lookup (tables of at most items / users rows); it writes
  snappy parquet with dictionary-encoded ids where the pipeline writes GZIP tf.Examples. Test-split
  fingerprint, example counts, TRAIN vocabularies and the scoring graph (the same sources per item, weights
  within 1e-5): {check}.
- Interactions travel as columnar batches (`preprocessing/batches.py`) through the duplicate check, the
  reference checks and the split; each user's examples are encoded in one step by a wire-format tf.Example
  writer (`features.ExampleWriter`) that encodes a user's profile and an item's content once; the item graph
  shuffles integer pair arrays; records stream to their files (runner-decided shards).
- Where the pipeline's time goes (in_memory at 1,000,000 interactions, sampled by py-spy at 10 Hz:
  `py-spy record --pid PID -r 10 -f raw`): the scoring graph's regression 22 % (its inverse 15 %),
  encoding examples 18 % (the writer 10 %, history lists 6 %), writing TFRecords 13 % (GZIP 12 %), parsing
  7 %, the runner sizing its side-input cache 3 %, the split 2 %, and Beam's per-element dispatch most of
  the rest. The pandas reference writes parquet (snappy) from whole columns: the GZIP of one tf.Example
  per interaction alone is about a tenth of the pipeline's time.

{table}

![preprocessing scaling]({plot})
"""


def write_docs(rows: list[Row], args: argparse.Namespace, check: str) -> None:
    os.makedirs(args.plot_dir, exist_ok=True)
    png = os.path.join(args.plot_dir, "preprocessing_scaling.png")
    plot(rows, png)
    modes = exponents(rows)
    runs = "\n".join(dict.fromkeys(f"{r.command}  # at {r.commit}, {r.date}" for r in rows))
    body = f"```\n{runs}\n```\n\n{common.machine()}\n\n" + SECTION.format(
        workers=args.workers, sample=common.SAMPLE_SECONDS, timeout=args.timeout_minutes,
        limit=args.memory_limit_gb, reference_limit=args.reference_memory_limit_gb,
        exponents="; ".join(f"{m} {e}" for m, e in modes.items()),
        check=check, table=table(rows), results=os.path.relpath(args.results, REPO),
        plot=common.relative_link(png, args.docs), headline=headline(rows),
    )  # fmt: skip
    common.write_section(args.docs, "Preprocessing", body)
    print(f"wrote {args.docs} and {png}", file=sys.stderr)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=ints, default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--modes", type=lambda t: t.split(","), default=["in_memory", "multi_processing"])
    p.add_argument(
        "--modes-at",
        action="append",
        default=[],
        metavar="SIZE=MODES",
        help="other modes for one size, e.g. 25000000=in_memory (the largest sizes take long)",
    )
    nproc = len(os.sched_getaffinity(0))
    p.add_argument("--workers", type=int, default=nproc, help="direct_num_workers (default: nproc)")
    p.add_argument("--timeout-minutes", type=float, default=30.0, help="per run")
    default_limit = round(common.memory_total_mb() / 1024 / 2, 1)
    p.add_argument("--memory-limit-gb", type=float, default=default_limit, help="per run (default: RAM / 2)")
    reference_limit = round(common.memory_total_mb() / 1024 * 0.8, 1)
    p.add_argument(
        "--reference-memory-limit-gb", type=float, default=reference_limit, help="default: RAM x 0.8"
    )
    p.add_argument("--workdir", help="where data and outputs go (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep each size's data and outputs")
    p.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    p.add_argument("--plot-dir", default=str(REPO / "docs"))
    p.add_argument("--results", default=str(RESULTS), help="every row measured so far (JSON)")
    p.add_argument("--fresh", action="store_true", help="drop the earlier rows in --results")
    p.add_argument("--commit", default=None, help="the code measured (default: git's HEAD)")
    p.add_argument(
        "--reuse-reference",
        action="store_true",
        help="reuse a finished reference run kept in --workdir (with --keep) instead of running it again",
    )
    p.add_argument("--reference", nargs=2, metavar=("RAW", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.modes_at = {int(size): modes.split(",") for size, modes in (m.split("=") for m in args.modes_at)}
    args.command = common.command_line("preprocess.py", argv)
    args.commit = args.commit or git_commit()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.reference:  # the child process of the pandas rows
        common.reference(*args.reference)
        return 0
    workdir = args.workdir or tempfile.mkdtemp(prefix="msrec-bench-preprocess-")
    rows = []
    try:
        for size in args.sizes:
            rows += bench_size(size, args, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    stamp = {"commit": args.commit, "date": str(datetime.date.today()), "command": args.command}
    rows = [dataclasses.replace(r, **{k: v for k, v in stamp.items() if not getattr(r, k)}) for r in rows]
    rows = merge(args.results, rows, args.fresh)
    notes = {r.note for r in rows if r.mode != "pandas" and r.run.ok}
    same = notes == {"outputs match pandas"}
    check = "every finished run matches the reference's" if same else ", ".join(sorted(notes))
    print(table(rows))
    write_docs(rows, args, check or "no finished run to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
