"""Transfer check: msrec (defaults, and tuned) beside the classic peers on a dataset msrec was not tuned on.

One dataset per call, onboarded by its source config alone (``bench/datasets/*.yaml``), raw data read
from ``--input`` and never committed. Each step runs as a user would run it and is skipped when its
output exists in ``--workdir`` (the runs take hours on two cores; a later call resumes):

1. ``msrec benchmark --dataset CONFIG --input RAW --seeds N``: preprocessing, the ranking mix chosen on
   VALIDATION, N seeds refit on TRAIN + VALIDATION, each export asked through ``recommend_user``;
2. the same with ``--tune --budget-minutes M`` (``msrec tune`` on VALIDATION first), on the same data;
3. ``bench/peers.py`` (MostPopular, ItemKNN, EASE^R, each tuned on VALIDATION) on the split msrec wrote;
4. optionally, rows measured elsewhere on the same split (``--extra NAME=JSON``, e.g. SASRec from RecBole
   in its own environment): a JSON with the TEST metrics and the split's ``test_split_sha256``.

The table's inputs (every step's JSON and the extra rows) are kept in ``--record``
(``docs/transfer-NAME.json``, committed), so a row measured later is added with ``--from-record
--extra ...`` without running the hours of the others again.

It refuses rows whose split fingerprint differs, then replaces the "## Transfer: NAME" section of
``--docs`` (``docs/results.md``; ``bench/results.py`` keeps such sections when it rewrites the file).

    python bench/transfer.py --dataset bench/datasets/ciaodvd.yaml --input /work/transfer-data/ciaodvd \
        --workdir runs/transfer/ciaodvd --seeds 1 --tune-minutes 30 --lambdas 10,50,250,500,1000
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from bench import common, results  # noqa: E402

KEYS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR", "Precision@10", "Recall@10", "F1@10")


class SplitMismatch(Exception):
    """A row measured on another split than msrec's."""


def run_step(name: str, output: str, command: list[str], log: str) -> dict[str, Any]:
    """``command`` once: its JSON ``output`` is kept, so a finished step is not run again."""
    if not os.path.exists(output):
        print(f"transfer: {name}: {' '.join(command)} (log: {log})", flush=True)
        with open(log, "w") as f:
            done = subprocess.run(command, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise SystemExit(f"transfer: {name} failed (exit {done.returncode}); the end of {log}:\n"
                             + common.log_tail(log))  # fmt: skip
    return json.loads(pathlib.Path(output).read_text())


def benchmark_command(args: argparse.Namespace, workdir: str, output: str, tune: bool) -> list[str]:
    command = [common.PYTHON, "-m", "msrec.app.cli", "benchmark", "--dataset", args.dataset]
    command += ["--input", args.input, "--seeds", str(args.seeds), "--workdir", workdir, "--output", output]
    return command + (["--tune", "--budget-minutes", f"{args.tune_minutes:g}"] if tune else [])


def msrec_label(what: str, result: dict) -> str:
    gap = max(abs(v) for v in result["served_minus_in_process"].values())
    served = "served equal" if gap < 5e-5 else f"served differs by {gap:.4f}"
    # A result JSON carried over from an earlier run may say which commit it measured ("commit").
    at = f", at {result['commit']}" if result.get("commit") else ""
    return f"msrec ({what}, {len(result['seeds'])} seed(s), {served}{at})"


def rows(defaults: dict, tuned: dict | None, peers: dict, extra: dict[str, dict]) -> list[tuple[str, dict]]:
    """``(label, TEST metrics)`` for the table, msrec first; every row must be on msrec's split."""
    split = defaults["test_split_sha256"]
    given = {"peers": peers["fingerprint"], **{n: r.get("test_split_sha256") for n, r in extra.items()}}
    if tuned is not None:
        given["msrec (tuned)"] = tuned["test_split_sha256"]
    wrong = sorted(name for name, value in given.items() if value != split)
    if wrong:
        raise SplitMismatch(f"not on msrec's split {split[:12]}... (or no fingerprint given): {wrong}")
    found = [(msrec_label("defaults", defaults), defaults["test"])]
    if tuned is not None:
        found.append((msrec_label("tuned", tuned), tuned["test"]))
    for name, system in peers["systems"].items():
        params = ", ".join(f"{k}={v:g}" for k, v in system["params"].items() if k != "counts")
        found.append((f"{name} ({params})" if params else name, system["test"]))
    return found + [(name, result.get("test", result)) for name, result in extra.items()]


def section(defaults: dict, tuned: dict | None, peers: dict, found: list[tuple[str, dict]]) -> str:
    """The markdown body of "## Transfer: NAME"."""
    lines = [
        f"Test split fingerprint `{defaults['test_split_sha256']}`; {peers['users_evaluated']:,} users "
        f"evaluated, catalog {peers['catalog']:,} items, {peers['train_interactions']:,} TRAIN interactions.",
        "",
        "| system | " + " | ".join(KEYS) + " |",
        "|---" * (len(KEYS) + 1) + "|",
    ]
    best_ndcg = max(result["NDCG@10"] for _, result in found)
    for label, result in found:
        cells = [f"{result[k]:.4f}" if k in result else "-" for k in KEYS]
        bold = result["NDCG@10"] == best_ndcg
        lines.append(f"| {label} | " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |")
    peer_rows = [(label, result) for label, result in found if not label.startswith("msrec")]
    lines += ["", "| msrec | metric | best peer | margin |", "|---|---|---|---|"]
    for label, result in found:
        if not label.startswith("msrec"):
            continue
        for key in ("HR@10", "NDCG@10"):
            peer, value = max(((p, r[key]) for p, r in peer_rows), key=lambda pr: pr[1])
            lines.append(
                f"| {label.split(',')[0]}) | {key} | {value:.4f} ({peer}) | {result[key] / value - 1:+.1%} |"
            )
    history = results.history_table(
        defaults.get("segments", {}), results.best_with_segments(peers["systems"])
    )
    if history:
        lines += [
            "",
            "By history length (msrec defaults seed 0, TEST; TRAIN and VALIDATION items known):",
            "",
        ]
        lines += history
    for what, result in (("defaults", defaults), ("tuned", tuned)):
        if result is None:
            lines += ["", f"msrec ({what}): not run."]
            continue
        model = result["config"]["model"]
        chosen = ", ".join(
            f"{k} {model[k]:g}" for k in ("graph_score_weight", "cold_text_weight") if k in model
        )
        train = result["config"]["train"]
        epochs = f"{train.get('stop_after') or train['epochs']} of {train['epochs']} epochs"
        lines += [
            "",
            f"msrec ({what}): sources {', '.join(model['sources'])}; {chosen}; refit {epochs}; "
            f"training seconds per seed {', '.join(str(s) for s in result['train_seconds'])}; "
            "known items in served lists: "
            f"{result['known_items_returned']}.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, help="a source config (bench/datasets/*.yaml)")
    p.add_argument("--input", required=True, help="the raw files' directory")
    p.add_argument("--workdir", required=True, help="every step's data, models and JSON (resumable)")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--tune-minutes", type=float, default=30.0, help="msrec tune's budget (0: no tuned row)")
    p.add_argument("--lambdas", help="EASE^R's VALIDATION grid (bench/peers.py's default otherwise)")
    p.add_argument("--peer-threads", default="1", help="BLAS threads for bench/peers.py (default 1)")
    p.add_argument("--extra", action="append", default=[], metavar="NAME=JSON", help="a row run elsewhere")
    p.add_argument("--docs", default=str(REPO / "docs" / "results.md"))
    p.add_argument("--record", help="the table's inputs, kept as one JSON (default: docs/transfer-NAME.json)")
    p.add_argument(
        "--from-record", action="store_true", help="take the msrec and peer rows from --record, run nothing"
    )
    p.add_argument("--commit", help="the commit the msrec rows ran at (shown in their rows)")
    args = p.parse_args(argv)
    name = pathlib.Path(args.dataset).stem
    record = pathlib.Path(args.record or REPO / "docs" / f"transfer-{name}.json")
    work = pathlib.Path(args.workdir).resolve()
    if args.from_record and not record.is_file():
        raise SystemExit(f"transfer: --from-record: no record {record}; run once without it to make one")
    kept = json.loads(record.read_text()) if args.from_record else None
    (work / "tuned").mkdir(parents=True, exist_ok=True)

    def step(what: str, command: list[str]) -> dict[str, Any]:
        if kept is not None:  # a row added later (--extra) must not cost the hours the others took
            return kept[what]
        return run_step(what, str(work / f"{what}.json"), command, str(work / f"{what}.log"))

    defaults = step(
        "defaults", benchmark_command(args, str(work / "defaults"), str(work / "defaults.json"), False)
    )
    data = work / "defaults" / "data"
    tuned = None
    if kept is not None:
        tuned = kept["tuned"]
    elif args.tune_minutes > 0:
        if not (work / "tuned" / "data").exists():  # the same preprocessed split, not a second run
            (work / "tuned" / "data").symlink_to(data)
        tuned = step("tuned", benchmark_command(args, str(work / "tuned"), str(work / "tuned.json"), True))
    peers_command = [common.PYTHON, str(REPO / "bench" / "peers.py"), "--data", str(data)]
    peers_command += ["--output", str(work / "peers.json"), "--threads", args.peer_threads, "--train-fit"] + (
        ["--lambdas", args.lambdas] if args.lambdas else []
    )
    peers = step("peers", peers_command)
    extra = dict(kept["extra"]) if kept is not None else {}
    for item in args.extra:
        label, _, path = item.partition("=")
        extra[label] = json.loads(pathlib.Path(path).read_text())
    for result in (defaults, tuned):
        if result is not None and args.commit and not result.get("commit"):
            result["commit"] = args.commit
    try:
        found = rows(defaults, tuned, peers, extra)
    except SplitMismatch as e:
        raise SystemExit(f"transfer: {e}") from None
    command = common.command_line("transfer.py", sys.argv[1:] if argv is None else argv)
    commands = [kept["command"], command] if kept is not None else [command]
    body = "```\n" + "\n".join(commands) + "\n```\n\n"
    body += f"{common.machine()}\n\n" + section(defaults, tuned, peers, found)
    common.write_section(args.docs, f"Transfer: {name}", body)
    inputs = {"command": commands[0], "defaults": defaults, "tuned": tuned, "peers": peers, "extra": extra}
    record.write_text(json.dumps(inputs, indent=1) + "\n")
    summary = {"dataset": name, "rows": dict(found), "test_split_sha256": defaults["test_split_sha256"]}
    (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"transfer: wrote the 'Transfer: {name}' section of {args.docs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
