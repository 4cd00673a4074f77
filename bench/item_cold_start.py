"""Item cold start: items nobody has met, added after training with ``--new-items``, then served.

1. Holds out 10 % of the interacted items (by a hash of the id, so the choice is reproducible)
   with **all** their rows: every source with an ``item_id`` field (interactions, item rows,
   item tags) is copied without them into ``WORKDIR/raw``.
2. ``msrec benchmark --seeds 1`` on that copy: preprocessing, the ranking mix chosen on
   VALIDATION, the refit. The model has never seen the held-out items.
3. Exports the model with the held-out items as ``--new-items`` (their title, categories and
   tags as the full preprocessing of ``--full`` shows them; the export embeds the text with the
   model's encoder) three times: as trained; with the cold-text term's sentence vectors only
   (``model.cold_text_words=false``, its weights chosen on VALIDATION: the pretrained encoder's
   share); and with
   ``model.cold_text_weight=0`` (no text term).
4. Asks each export's ``recommend_user`` (TF1 session loader, as TF Serving) for every user who
   met a held-out item in the full data, and ranks each such (user, item) pair in the served
   list, the user's other held-out items set aside. A content baseline with no language model
   (``bench/content_baseline.py``'s TF-IDF, nearest to the history) ranks the same pairs over the
   same catalogue. MostPopular cannot rank an item with no interactions at all.

    python bench/item_cold_start.py --dataset lastfm-2k --input RAW --full FULL_DATA_DIR \
        --workdir W --output docs/item-cold-start-lastfm-2k.json

``FULL_DATA_DIR``: the dataset preprocessed whole (e.g. ``msrec benchmark``'s ``WORKDIR/data``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from msrec import features as F  # noqa: E402
from msrec import source_config as sources  # noqa: E402

SHARE = 10  # one item in SHARE is held out


def held_out(item_id: str) -> bool:
    return int(hashlib.sha1(item_id.encode()).hexdigest(), 16) % SHARE == 0


def filter_sources(spec: sources.DatasetSpec, raw: str, out: str) -> set[str]:
    """Copies ``raw`` to ``out`` without the held-out items' lines; returns the held-out items.

    Lines are copied byte for byte (only whole lines are dropped), so parsing is left to msrec.
    """
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(raw):
        if os.path.isfile(os.path.join(raw, name)):
            shutil.copy(os.path.join(raw, name), out)
    removed: set[str] = set()
    for kind, source in spec.sources.items():
        if "item_id" not in source.fields or source.format != "csv":
            continue
        delimiter = source.delimiter.encode(source.encoding)
        for path in pathlib.Path(raw).glob(source.path):
            lines = path.read_bytes().splitlines(keepends=True)
            header = (
                lines[0].rstrip(b"\r\n").decode(source.encoding).split(source.delimiter)
                if source.header
                else None
            )
            name = source.fields["item_id"]
            index = header.index(name) if isinstance(name, str) else int(name)
            kept = lines[:1] if source.header else []
            for line in lines[1:] if source.header else lines:
                cells = line.rstrip(b"\r\n").split(delimiter)
                item = cells[index].decode(source.encoding, "replace") if index < len(cells) else ""
                if held_out(item):
                    removed.update([item] if kind == "interactions" else [])
                else:
                    kept.append(line)
            (pathlib.Path(out) / path.name).write_bytes(b"".join(kept))
    return removed


def new_items(full: str, items: set[str]) -> list[dict]:
    """The held-out items as ``--new-items`` rows: title, categories and tags from the full data."""
    from bench.content_baseline import texts
    from msrec.datadir import DataDir
    from trainer import tables

    full_tables = tables.read(DataDir.open(full))
    text = texts(full)
    out = []
    for i, item in enumerate(full_tables.catalog_ids):
        if item not in items:
            continue
        row = {"item_id": item}
        for field, name in (("categories", F.ITEM_CATEGORIES), ("tags", F.ITEM_TAGS)):
            values = full_tables.catalog[name][i] if name in full_tables.catalog else []
            if any(values):
                row[field] = [v.decode() for v in values if v]
        tail = ". ".join(", ".join(row[f]) for f in ("categories", "tags") if f in row)
        whole = text.get(item, "")
        row["title"] = whole[: -len(tail) - 2] if tail and whole.endswith(". " + tail) else whole
        out.append(row)
    return out


def pairs(full: str, items: set[str]) -> dict[str, set[str]]:
    """User -> the held-out items they have in the full data (any split)."""
    from msrec.datadir import DataDir
    from trainer import data

    met: dict[str, set[str]] = {}
    source = DataDir.open(full)
    for split in ("train", "validation", "test"):
        contract = F.by_name(source.contract)
        values = data.load_all(source, split, (contract[F.USER_ID], contract[F.ITEM_ID]))
        for user, item in zip(values[F.USER_ID], values[F.ITEM_ID], strict=True):
            user, item = user.decode(), item.decode()
            if item in items:
                met.setdefault(user, set()).add(item)
    return met


def rank_pairs(lists: dict[str, list[str]], met: dict[str, set[str]]) -> np.ndarray:
    """Per (user, held-out item): its rank in the user's list with the user's other ones removed."""
    ranks = []
    for user, targets in sorted(met.items()):
        served = lists.get(user, [])
        for target in sorted(targets):
            others = [i for i in served if i == target or i not in targets]
            ranks.append(others.index(target) + 1 if target in others else len(served) + 10**6)
    return np.array(ranks, np.int64)


def served(version: str, users: list[str]) -> dict[str, list[str]]:
    from msrec import signatures as S
    from serving.evaluate import SessionSignature

    recommend = SessionSignature(version, S.RECOMMEND_USER)
    out = {}
    for start in range(0, len(users), 256):
        part = users[start : start + 256]
        got = recommend(**{F.USER_ID: np.array([u.encode() for u in part], dtype=object)})
        for user, row in zip(part, got[S.ITEM_IDS], strict=True):
            out[user] = [i.decode() for i in row if i]
    recommend.close()
    return out


def tfidf_lists(data_dir: str, added: list[dict], users: list[str], k: int = 100) -> dict[str, list[str]]:
    """TF-IDF of the same text, nearest to each user's known items, over catalogue + new items."""
    from bench.content_baseline import nearest, texts, vectorize
    from msrec.datadir import DataDir
    from trainer import tables

    by_item = texts(data_dir)
    for row in added:
        by_item[row["item_id"]] = F.item_text(row)
    catalog = sorted(by_item)
    position = {item: i for i, item in enumerate(catalog)}
    vectors = vectorize([by_item[i] for i in catalog])
    source = DataDir.open(data_dir)
    model_tables = tables.read(source)
    rows = tables.read_users(source, model_tables)
    known = {
        u: [position[i] for i in (model_tables.catalog_ids[p] for p in k_) if i in position]
        for u, k_ in zip(rows.user_ids, rows.known_positions, strict=True)
    }
    out = {}
    for user in users:
        history = known.get(user, [])
        if not history:
            out[user] = []
            continue
        scores = nearest(vectors, [history])[0]
        scores[history] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        out[user] = [catalog[i] for i in top]
    return out


def summarize(ranks: np.ndarray) -> dict:
    found = ranks <= 10
    return {
        "HR@10": float(found.mean()),
        "NDCG@10": float(np.where(found, 1 / np.log2(ranks.clip(max=10**6) + 1), 0).mean()),
        "HR@100": float((ranks <= 100).mean()),
        "pairs": int(len(ranks)),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="a preset name or a sources YAML")
    parser.add_argument("--input", required=True, help="the raw data directory")
    parser.add_argument("--full", required=True, help="the dataset preprocessed whole")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    spec = (
        sources.load(args.dataset)
        if args.dataset.endswith((".yaml", ".yml"))
        else sources.preset(args.dataset)
    )
    raw = os.path.join(args.workdir, "raw")
    items = filter_sources(spec, args.input, raw)
    added = new_items(args.full, items)
    new_file = os.path.join(args.workdir, "new_items.jsonl")
    with open(new_file, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in added)
    print(f"held out {len(items)} items ({len(added)} with text); training without them", flush=True)
    bench = os.path.join(args.workdir, "benchmark.json")
    if not os.path.exists(bench):
        command = [sys.executable, "-m", "msrec.app.cli", "benchmark", "--dataset", args.dataset]
        command += ["--input", raw, "--workdir", args.workdir, "--seeds", "1", "--output", bench]
        subprocess.run(command, check=True, cwd=REPO)
    from msrec import config as msrec_config
    from msrec.datadir import DataDir
    from trainer import artifacts, export, mix
    from trainer.scoring import Ranking

    met = pairs(args.full, items)
    users = sorted(met)
    data_dir = os.path.join(args.workdir, "data")
    result = {"held_out_items": len(items), "users": len(users), "rows": {}}
    variants = (
        ("msrec", None, True),
        ("msrec, cold-text term from sentence vectors only", None, False),
        ("msrec, no cold-text term", 0.0, True),
    )
    source = DataDir.open(data_dir)
    for number, (name, cold_weight, words) in enumerate(variants):
        model, config, _ = artifacts.load(os.path.join(args.workdir, "model-seed0"), source)
        ranking = dataclasses.replace(Ranking.of(config.model), cold_words=words)
        if cold_weight is not None:
            ranking = dataclasses.replace(ranking, cold_weight=cold_weight)
        if not words:  # its own weights, chosen on VALIDATION as the benchmark chose the shipped ones
            validation = artifacts.load(os.path.join(args.workdir, "model-validation"), source)[0]
            chosen, _ = mix.choose(validation, ranking, source)
            ranking = mix.applied(ranking, chosen)
            result["sentence_only_mix"] = chosen
        base = os.path.join(args.workdir, f"export-{number}")
        serving = msrec_config.ServingConfig(top_k=100)
        served_ = artifacts.served(model, source, new_file)
        version = export.export(model, ranking, serving, served_, base)
        result["rows"][name] = summarize(rank_pairs(served(version, users), met))
        if cold_weight is None:
            result["mix"] = {k: getattr(config.model, k) for k in ("cold_text_weight", "cold_text_offset")}
    result["rows"]["TF-IDF, nearest to history"] = summarize(
        rank_pairs(tfidf_lists(data_dir, added, users), met)
    )
    result["command"] = "python bench/item_cold_start.py " + " ".join(argv)
    print(json.dumps(result, indent=2))
    pathlib.Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
