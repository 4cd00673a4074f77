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


def section(result: dict[str, Any], peers: dict[str, dict[str, float]]) -> str:
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
    seeds = ", ".join(f"{s['HR@10']:.4f}/{s['NDCG@10']:.4f}" for s in result["seeds"])
    lines += [
        "",
        f"Per seed (HR@10/NDCG@10): {seeds}. Training seconds per seed: "
        f"{', '.join(str(s) for s in result['train_seconds'])}.",
        "",
        "By segment (seed 0, TEST):",
        "",
        "| segment | users | HR@10 | NDCG@10 |",
        "|---|---|---|---|",
    ]
    for name, m in result["segments"].items():
        lines.append(f"| {name} | {m['num_users']} | {m['HR@10']:.4f} | {m['NDCG@10']:.4f} |")
    return "\n".join(lines) + "\n"


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
    args = p.parse_args(argv)
    peers = parse_peers(open(args.peers, encoding="utf-8").read())
    parts = ["# Results under PROTOCOL.md", "", args.preamble, ""]
    for path in args.results:
        result = json.load(open(path, encoding="utf-8"))
        parts.append(section(result, peers[result["dataset"]]))
    parts += kept_sections(args.output)
    if args.epilogue:
        parts.append(args.epilogue)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
