"""Writes docs/results.md from `msrec benchmark` outputs, beside the peers' published numbers.

    python bench/results.py --results docs/results-movielens-100k.json docs/results-lastfm-2k.json \
        --peers ../shared/benchmarks/peers.md --output docs/results.md \
        --preamble "$(cat bench/results_preamble.md)" --epilogue "$(cat bench/results_epilogue.md)"

Nothing here measures anything: every figure comes from the JSON files (msrec) or
from peers.md (the other systems, same PROTOCOL.md split).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
from typing import Any, Sequence

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1])]

from msrec import metrics  # noqa: E402

KEYS = metrics.MAIN
BEYOND = ("Precision@10", "Recall@10", "F1@10", "Coverage@10", "Novelty@10")


def parse_peers(text: str) -> dict[str, dict[str, dict[str, float]]]:
    """``{dataset: {system: {metric: value}}}`` from peers.md's markdown tables."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    dataset, header = None, None
    for line in text.splitlines():
        heading = re.match(r"^###\s+(\S+)", line)
        if heading:
            dataset, header = heading.group(1), None
            out[dataset] = {}
        elif dataset and line.startswith("|") and not set(line) <= set("|-: "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                row = dict(zip(header, cells, strict=False))
                out[dataset][row["system"]] = {k: float(row[k]) for k in KEYS if k in row}
    return out


def best(peers: dict[str, dict[str, float]], key: str) -> tuple[str, float]:
    name = max(peers, key=lambda s: peers[s][key])
    return name, peers[name][key]


def best_with_segments(systems: dict[str, dict]) -> tuple[str, dict[str, dict]] | None:
    """``(name, segments)`` of the ``bench/peers.py`` system with per-segment TEST results and the best
    overall TEST NDCG@10; None when no system has segments (a JSON written before they were added)."""
    found = {name: s for name, s in systems.items() if s.get("segments")}
    if not found:
        return None
    name = max(found, key=lambda n: found[n]["test"]["NDCG@10"])
    return name, found[name]["segments"]


def history_table(ours: dict[str, dict], peer: tuple[str, dict[str, dict]] | None) -> list[str]:
    """Markdown rows: msrec's TEST metrics per history-length segment (``metrics.history_segment``),
    beside the best peer's where its JSON has segments."""
    canonical = [metrics.history_segment(high) for _, high in metrics.HISTORY_SEGMENTS]
    canonical.append(metrics.history_segment(10**9))
    theirs = peer[1] if peer else {}
    present = [n for n in (*ours, *theirs) if n.startswith("users: ")]
    names = [n for n in canonical if n in present] + sorted(set(present) - set(canonical))
    if not names:
        return []
    head = "| history (known items) | users | msrec HR@10 | msrec NDCG@10 |"
    lines = [head + (f" {peer[0]} HR@10 | NDCG@10 |" if peer else ""), "|---" * (4 + 2 * bool(peer)) + "|"]
    cell = lambda m, k: f"{m[k]:.4f}" if m else "-"  # noqa: E731
    for name in names:
        m, p = ours.get(name), theirs.get(name)
        users = (m or p)["num_users"]
        row = f"| {name.removeprefix('users: ')} | {users:,} | {cell(m, 'HR@10')} | {cell(m, 'NDCG@10')} |"
        lines.append(row + (f" {cell(p, 'HR@10')} | {cell(p, 'NDCG@10')} |" if peer else ""))
    return lines


def section(
    result: dict[str, Any], peers: dict[str, dict[str, float]], peer_run: dict[str, Any] | None = None
) -> str:
    """The dataset's section; ``peer_run``: a ``bench/peers.py`` JSON on the same split, whose best
    system's segments stand beside msrec's history-length segments."""
    d, mean, std = result["dataset"], result["test"], result["std"]
    lines = [
        f"## {d}",
        "",
        f"Test split fingerprint `{result['test_split_sha256']}`, "
        f"{mean['num_users']} users evaluated, {len(result['seeds'])} seed(s).",
        "",
        "| system | " + " | ".join(KEYS) + " |",
        "|---" * (len(KEYS) + 1) + "|",
        "| **msrec (mean ± std)** | " + " | ".join(f"**{mean[k]:.4f}** ± {std[k]:.4f}" for k in KEYS) + " |",
    ]
    if "served" in result:  # the exports, asked through recommend_user as TF Serving answers
        served = result["served"]
        lines.append(
            "| msrec served (export, `recommend_user`) | "
            + " | ".join(f"{served[k]:.4f}" if k != "MRR" else f"{served[k]:.4f}*" for k in KEYS)
            + " |"
        )
    for name, values in sorted(peers.items(), key=lambda kv: -kv[1]["NDCG@10"]):
        lines.append(f"| {name} | " + " | ".join(f"{values[k]:.4f}" for k in KEYS) + " |")
    lines += ["", "| metric | msrec | best peer | margin | goal (+10 %) |", "|---|---|---|---|---|"]
    for key in ("HR@10", "NDCG@10"):
        name, value = best(peers, key)
        margin = mean[key] / value - 1
        verdict = "met" if margin >= 0.10 else ("beaten, goal not met" if margin > 0 else "not beaten")
        lines.append(f"| {key} | {mean[key]:.4f} | {value:.4f} ({name}) | {margin:+.1%} | {verdict} |")
    lines += served_lines(result) + mix_lines(result)
    seeds = ", ".join(f"{s['HR@10']:.4f}/{s['NDCG@10']:.4f}" for s in result["seeds"])
    lines += [
        "",
        f"Per seed (HR@10/NDCG@10): {seeds}. Training seconds per seed: "
        f"{', '.join(str(s) for s in result['train_seconds'])}.",
    ]
    return "\n".join(lines + segment_lines(result, peer_run)) + "\n"


def served_lines(result: dict[str, Any]) -> list[str]:
    """Served minus in-process, and the beyond-accuracy metrics (when the exports were asked)."""
    mean, lines = result["test"], []
    if "served" in result:
        diff = result["served_minus_in_process"]
        lines += [
            "",
            f"Served minus in-process: HR@10 {diff['HR@10']:+.4f}, NDCG@10 {diff['NDCG@10']:+.4f}; "
            f"known items in the served top-{result['served_seeds'][0]['list_length']} lists: "
            f"{result['known_items_returned']}. "
            "*Served MRR counts only targets inside the list (a lower bound).",
            "",
            "| msrec (mean) | Precision@10 | Recall@10 | F1@10 | Coverage@10 | Novelty@10 (bits) |",
            "|---|---|---|---|---|---|",
            "| in-process | "
            + " | ".join(f"{mean[k]:.4f}" if k in mean else "not measured" for k in BEYOND)
            + " |",
        ]
    return lines


def mix_lines(result: dict[str, Any]) -> list[str]:
    """The ranking mix chosen on VALIDATION, with the best NDCG@10 per graph weight."""
    lines: list[str] = []
    if result.get("mix"):
        model = result["config"]["model"]
        keys = [k for k in ("graph_score_weight", "cold_text_weight", "cold_text_offset") if k in model]
        chosen = ", ".join(f"{k} {model[k]:g}" for k in keys)
        per_weight: dict[float, float] = {}  # per graph weight, its best NDCG@10 over cold-text settings
        for r in result["mix"]:
            w = r["graph_score_weight"]
            per_weight[w] = max(per_weight.get(w, 0.0), r["NDCG@10"])
        row = " | ".join(f"{w:g}: {v:.4f}" for w, v in per_weight.items())
        lines += [
            "",
            f"Ranking mix chosen on VALIDATION from {len(result['mix'])} candidates (best NDCG@10 per "
            f"graph_score_weight: {row}); chosen {chosen}.",
        ]
    return lines


def segment_lines(result: dict[str, Any], peer_run: dict[str, Any] | None) -> list[str]:
    """Seed 0's TEST segments: by history length (beside the best peer's, from ``peer_run``), then the
    others (friends, the target's popularity, cold items)."""
    peer = best_with_segments(peer_run["systems"]) if peer_run else None
    lines = [
        "",
        "By history length (seed 0, TEST; the user's TRAIN and VALIDATION items):",
        "",
        *history_table(result["segments"], peer),
        "",
        "By segment (seed 0, TEST):",
        "",
        "| segment | users | HR@10 | NDCG@10 |",
        "|---|---|---|---|",
    ]
    for name, m in result["segments"].items():
        if not name.startswith("users: "):
            lines.append(f"| {name} | {m['num_users']} | {m['HR@10']:.4f} | {m['NDCG@10']:.4f} |")
    return lines


def kept_sections(path: str) -> list[str]:
    """The "## Transfer: ..." sections already in ``path``: ``bench/transfer.py`` writes those."""
    old = pathlib.Path(path).read_text(encoding="utf-8") if pathlib.Path(path).exists() else ""
    return [
        m.group(0).rstrip() + "\n" for m in re.finditer(r"^## Transfer: .*?(?=^## |\Z)", old, re.M | re.S)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", nargs="+", required=True, help="msrec benchmark JSON files")
    p.add_argument("--peers", required=True, help="shared/benchmarks/peers.md")
    p.add_argument("--output", required=True, help="markdown file to write")
    p.add_argument("--preamble", default="", help="text (markdown) inserted after the title")
    p.add_argument("--epilogue", default="", help="text (markdown) appended after the datasets")
    p.add_argument(
        "--peer-runs",
        nargs="*",
        default=[],
        help="bench/peers.py JSON files: the best peer's history-length segments beside msrec's (same split)",
    )
    args = p.parse_args(argv)
    peers = parse_peers(open(args.peers, encoding="utf-8").read())
    runs = {}
    for path in args.peer_runs:
        run = json.load(open(path, encoding="utf-8"))
        runs[run["fingerprint"]] = run
    found = [json.load(open(path, encoding="utf-8")) for path in args.results]
    # A peer run counts only on msrec's split: it is matched by the split's fingerprint.
    stray = sorted(set(runs) - {result["test_split_sha256"] for result in found})
    if stray:
        raise SystemExit(f"results: --peer-runs on no split of --results (fingerprints {stray})")
    parts = ["# Results under PROTOCOL.md", "", args.preamble, ""]
    for result in found:
        parts.append(section(result, peers[result["dataset"]], runs.get(result["test_split_sha256"])))
    parts += kept_sections(args.output)
    if args.epilogue:
        parts.append(args.epilogue)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
