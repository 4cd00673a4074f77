"""SASRec (RecBole) as a sequential peer under PROTOCOL.md, on exactly the split msrec wrote.

Two steps, two interpreters. ``export`` runs in msrec's own venv: it reads a finished
``msrec preprocess`` output directory (TFRecords, read with ``bench/peers.py``'s ``_records``)
and writes RecBole atomic files plus a JSON of the protocol's ranking inputs. ``run`` runs in a
SEPARATE throwaway virtualenv that holds torch and RecBole: torch is never installed into msrec's
venv, and msrec does not depend on it. ``run`` imports only ``msrec/metrics.py`` (numpy only)
from the repository, so its ranks and metrics are msrec's own.

Commands, from the repository root (2 cores: keep it polite with ``nice``)::

    # 1. the throwaway env. On this machine pip's config finds the CPU-only wheel
    #    torch-2.13.0+cpu locally; elsewhere take torch 2.13.0 from PyTorch's CPU wheel index.
    #    numpy < 2 because RecBole 1.2.1 still uses np.float_; pandas 2.2 (3.x untested).
    python3.11 -m venv /tmp/sasrec-venv
    /tmp/sasrec-venv/bin/pip install torch==2.13.0 recbole==1.2.1 numpy==1.26.4 \
        scipy==1.13.1 pandas==2.2.3
    # 2. export (msrec's venv)
    nice -n 19 .venv/bin/python bench/sasrec.py export --data /tmp/t/ciaodvd --output /tmp/sasrec/ciaodvd
    # 3. train, select the epoch on VALIDATION, refit, score TEST (throwaway venv)
    nice -n 19 /tmp/sasrec-venv/bin/python bench/sasrec.py run --input /tmp/sasrec/ciaodvd \
        --output runs/sasrec-ciaodvd.json --threads 2

What ``export`` writes into ``--output`` (``NAME`` = its base name; item tokens are catalog
indices and user tokens user indices, so no raw id can break RecBole's separators):

- ``NAME.train.inter``: RecBole's pre-split ("benchmark_filename") files for sequential models
  are already augmented: one row per TRAIN interaction after a user's first, with the user's
  earlier TRAIN items (the last ``--max-len``, oldest first) as ``item_id_list:token_seq``,
  the item as ``item_id:token`` and its position in the user's timeline as ``timestamp:float``.
  This is what RecBole's own ``data_augmentation`` makes of a plain ``.inter`` file.
- ``NAME.valid.inter``: per evaluated user, TRAIN -> the VALIDATION item.
- ``NAME.test.inter``: per evaluated user, TRAIN + VALIDATION -> the TEST item (for reference;
  ``run`` does not give it to RecBole, so TEST items never enter RecBole's vocabulary).
- ``NAME.refit.inter``: the TRAIN rows plus the VALIDATION rows, for the refit.
- ``sasrec_split.json``: the catalog, per evaluated user the ordered TRAIN items, the VALIDATION
  and TEST targets, the excluded TRAIN + VALIDATION items, and ``test_split_sha256``.

The order of a user's TRAIN items: each TRAIN record's ``history_item_ids`` is (in the
``prefix`` history mode) its earlier TRAIN items, most recent first, so the item whose history
is empty comes first and the record whose ``history_item_ids[0]`` is item X follows X. That
chain is checked against the VALIDATION and TEST records' ``seen_item_ids`` (TRAIN in time
order, then VALIDATION), which must agree item by item.

What ``run`` does: RecBole's SASRec with its defaults (2 layers, 2 heads, hidden 64, CE loss
over all items, Adam 1e-3, batch 2048, max length 50, seed 2020). It trains on the TRAIN rows,
evaluates NDCG@10 on VALIDATION after every epoch (RecBole's full-sort, which does not mask
the history: used only to pick the epoch) and stops early after ``--stopping-step`` epochs
without gain. Then, as peers.py does for its peers, it refits a fresh model on TRAIN +
VALIDATION for the chosen number of epochs (PROTOCOL.md rule 4: with the refit, VALIDATION may
reach the features), and scores TEST with the input sequence TRAIN + VALIDATION (the last
``max_len`` items). ``--no-refit`` keeps the best TRAIN-only model instead (RecBole's own
convention: the same TRAIN + VALIDATION input at test time, weights never fit on VALIDATION).
The TEST ranking is over msrec's full catalog; the user's TRAIN + VALIDATION items are excluded;
ties count against the target (``msrec.metrics.ranks``). A catalog item that RecBole never saw
(not in TRAIN + VALIDATION, so without a trained embedding) scores strictly below every item it
knows (the row's minimum minus one, a finite score so that excluded items, set to -inf by
``ranks``, still never count); with ties against the target this is conservative: such a target
ranks behind every candidate it ties with. The JSON also holds protocol metrics on VALIDATION
(TRAIN-only model, input TRAIN, TRAIN items excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SPLIT_JSON = "sasrec_split.json"
HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"


# ------------------------------------------------------------------------------------- export
def _train_order(records: list[tuple[str, list[str]]], user: str) -> list[str]:
    """A user's TRAIN items in time order, from (item, history most recent first) records."""
    after = {}  # previous item (None for the first) -> the item that follows it
    for item, history in records:
        previous = history[0] if history else None
        if previous in after:
            raise SystemExit(f"sasrec: user {user!r}: two TRAIN records follow {previous!r}")
        after[previous] = item
    order, current = [], None
    while current in after:
        current = after[current]
        order.append(current)
        if len(order) > len(records):
            raise SystemExit(f"sasrec: user {user!r}: the TRAIN history chain loops")
    if len(order) != len(records):
        raise SystemExit(f"sasrec: user {user!r}: the TRAIN history chain covers {len(order)}/{len(records)}")
    return order


def _rows(user: int, sequence: list[int], max_len: int, start: int = 1) -> list[str]:
    """Augmented rows ``user  prefix  target  position`` for the targets sequence[start:]."""
    return [
        f"{user}\t{' '.join(map(str, sequence[max(0, i - max_len) : i]))}\t{sequence[i]}\t{i}\n"
        for i in range(start, len(sequence))
    ]


def export(args: argparse.Namespace) -> None:
    sys.path[:0] = [str(REPO)]
    from bench import peers  # noqa: E402 - msrec's venv only (TensorFlow)
    from msrec import features as F

    started = time.time()
    with open(os.path.join(args.data, "metadata.json")) as f:
        metadata = json.load(f)
    mode = metadata.get("data_config", {}).get("history_mode", "prefix")
    if mode != "prefix":
        raise SystemExit(f"sasrec: history_mode {mode!r}: the TRAIN order is only recoverable from 'prefix'")
    catalog = sorted(set(peers._records(args.data, "candidates", [F.ITEM_ID])[F.ITEM_ID]))
    index = {item: i for i, item in enumerate(catalog)}
    train = peers._records(args.data, "train", [F.USER_ID, F.ITEM_ID, F.HISTORY_ITEM_IDS])
    by_user: dict[str, list[tuple[str, list[str]]]] = {}
    for user, item, history in zip(
        train[F.USER_ID], train[F.ITEM_ID], train[F.HISTORY_ITEM_IDS], strict=True
    ):
        by_user.setdefault(user, []).append((item, [h for h in history if h != F.PAD]))
    order = {user: _train_order(records, user) for user, records in by_user.items()}
    print(f"export: {len(train[F.ITEM_ID])} TRAIN records of {len(order)} users, {len(catalog)} items")

    wanted = [F.USER_ID, F.ITEM_ID, F.SEEN_ITEM_IDS]
    validation = peers._records(args.data, "validation", wanted)
    test = peers._records(args.data, "test", wanted)
    valid_of = dict(zip(validation[F.USER_ID], validation[F.ITEM_ID], strict=True))
    valid_seen = dict(zip(validation[F.USER_ID], validation[F.SEEN_ITEM_IDS], strict=True))
    users = list(test[F.USER_ID])
    if sorted(users) != sorted(valid_of):
        raise SystemExit("sasrec: the VALIDATION and TEST records name different users")
    for user, seen in zip(users, test[F.SEEN_ITEM_IDS], strict=True):
        if valid_seen[user] != order[user] or seen != order[user] + [valid_of[user]]:
            raise SystemExit(f"sasrec: user {user!r}: the TRAIN order disagrees with seen_item_ids")

    all_users = sorted(order)
    user_index = {u: i for i, u in enumerate(all_users)}
    seq = {u: [index[i] for i in items] for u, items in order.items()}
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    name = out.name
    train_rows = [row for u in all_users for row in _rows(user_index[u], seq[u], args.max_len)]
    valid_rows, test_rows = [], []
    for user, target in zip(users, test[F.ITEM_ID], strict=True):
        known = seq[user] + [index[valid_of[user]]]
        valid_rows += _rows(user_index[user], known, args.max_len, start=len(known) - 1)
        test_rows += _rows(user_index[user], known + [index[target]], args.max_len, start=len(known))
    for part, rows in (
        ("train", train_rows),
        ("valid", valid_rows),
        ("test", test_rows),
        ("refit", train_rows + valid_rows),
    ):
        with open(out / f"{name}.{part}.inter", "w") as f:
            f.write(HEADER)
            f.writelines(rows)
    split = {
        "dataset": metadata.get("dataset"),
        "data": os.path.abspath(args.data),
        "test_split_sha256": metadata["test_split_sha256"],
        "max_len": args.max_len,
        "catalog": catalog,
        "users": users,
        "train_sequences": [seq[u] for u in users],  # catalog indices, oldest first
        "validation_targets": [index[valid_of[u]] for u in users],
        "test_targets": [index[t] for t in test[F.ITEM_ID]],
        "test_excluded": [[index[i] for i in seen] for seen in test[F.SEEN_ITEM_IDS]],  # TRAIN + VALIDATION
        "counts": {
            "train_users": len(all_users),
            "train_interactions": len(train[F.ITEM_ID]),
            "train_rows": len(train_rows),
            "evaluated_users": len(users),
        },
    }
    with open(out / SPLIT_JSON, "w") as f:
        json.dump(split, f)
    print(
        f"export: {len(train_rows)} TRAIN rows, {len(valid_rows)} VALIDATION and {len(test_rows)} TEST users"
        f" -> {out} ({time.time() - started:.1f}s)"
    )


# ---------------------------------------------------------------------------------------- run
def _metrics_module():
    """``msrec.metrics`` without the rest of msrec (it imports numpy only)."""
    sys.path.insert(0, str(REPO))
    from msrec import metrics

    return metrics


def _config(args: argparse.Namespace, work: pathlib.Path, files: list[str], epochs: int):
    from recbole.config import Config

    source = pathlib.Path(args.input).resolve()
    settings = {
        "data_path": str(source.parent),
        "benchmark_filename": files,
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
        "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": args.max_len,
        "train_neg_sample_args": None,  # CE over all items (SASRec's default loss)
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
        "metrics": ["NDCG", "Hit", "MRR"],
        "topk": [args.valid_k],
        "valid_metric": f"NDCG@{args.valid_k}",
        "epochs": epochs,
        "stopping_step": args.stopping_step,
        "use_gpu": False,
        "device": "cpu",
        "show_progress": False,
        "checkpoint_dir": str(work / "saved"),
        "seed": args.seed,
        "reproducibility": True,
        "worker": 0,
    }
    argv, sys.argv[1:] = sys.argv[1:], []  # RecBole's Config also reads --key=value from the command line
    try:
        return Config(model="SASRec", dataset=source.name, config_dict=settings)
    finally:
        sys.argv[1:] = argv


def _data(config):
    """(dataset, train loader, valid loader) of the config's pre-split files."""
    from recbole.data import create_dataset, data_preparation

    dataset = create_dataset(config)
    train_data, valid_data, _ = data_preparation(config, dataset)
    return dataset, train_data, valid_data


def _scores(model, dataset, sequences: list[list[int]], catalog_size: int, max_len: int, batch: int):
    """``[U, C]`` float64 scores over msrec's catalog; items RecBole never saw get row min - 1."""
    import numpy as np
    import torch
    from recbole.data.interaction import Interaction

    tokens = dataset.field2token_id[dataset.iid_field]
    known = np.array([c for c in range(catalog_size) if str(c) in tokens], dtype=np.int64)
    inner = np.array([tokens[str(c)] for c in known], dtype=np.int64)
    out = []
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(sequences), batch):
            rows = [[tokens[str(c)] for c in s[-max_len:]] for s in sequences[lo : lo + batch]]
            items = torch.zeros((len(rows), max_len), dtype=torch.long)
            for r, row in enumerate(rows):
                items[r, : len(row)] = torch.tensor(row)
            lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
            inter = Interaction({model.ITEM_SEQ: items, model.ITEM_SEQ_LEN: lengths})
            raw = model.full_sort_predict(inter).double().numpy()[:, inner]
            scores = np.empty((len(rows), catalog_size))
            scores[:] = (raw.min(axis=1) - 1.0)[:, None] if raw.shape[1] else 0.0
            scores[:, known] = raw
            out.append(scores)
    return np.concatenate(out) if out else np.zeros((0, catalog_size))


def _protocol(metrics, scores, targets, excluded) -> dict:
    import numpy as np

    ranks = metrics.ranks(scores, np.asarray(targets, dtype=np.int64), excluded)
    return metrics.summarize(ranks)


def run(args: argparse.Namespace) -> None:
    started = time.time()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import recbole
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_logger, init_seed

    metrics = _metrics_module()
    source = pathlib.Path(args.input)
    with open(source / SPLIT_JSON) as f:
        split = json.load(f)
    args.max_len = split["max_len"]
    output = pathlib.Path(args.output)
    work = pathlib.Path(args.workdir or f"{output}.work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # RecBole writes log/ and log_tensorboard/ under the working directory
    catalog_size = len(split["catalog"])

    # 1. TRAIN only, the epoch picked by VALIDATION NDCG@10 (RecBole's early stopping).
    config = _config(args, work, ["train", "valid", "valid"], args.epochs)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset, train_data, valid_data = _data(config)
    init_seed(config["seed"], config["reproducibility"])
    model = SASRec(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)
    history: list[tuple[int, float]] = []
    best = {"epoch": -1, "score": -np.inf, "state": None}

    def on_epoch(epoch: int, score: float) -> None:
        history.append((epoch, float(score)))
        if score > best["score"]:
            best.update(
                epoch=epoch, score=float(score), state={k: v.clone() for k, v in model.state_dict().items()}
            )
        print(
            f"sasrec: epoch {epoch} valid NDCG@{args.valid_k} {score:.4f}"
            f" (best {best['score']:.4f} at {best['epoch']}) {time.time() - started:.0f}s",
            flush=True,
        )

    trainer.fit(train_data, valid_data, saved=False, show_progress=False, callback_fn=on_epoch)
    if best["state"] is None:
        raise SystemExit("sasrec: no validation epoch ran")
    model.load_state_dict(best["state"])
    sequences = split["train_sequences"]
    valid_scores = _scores(model, dataset, sequences, catalog_size, args.max_len, args.batch)
    validation = _protocol(metrics, valid_scores, split["validation_targets"], sequences)
    print(f"sasrec: VALIDATION (protocol, TRAIN-only model) {validation}", flush=True)
    epochs = best["epoch"] + 1

    # 2. The TEST model: refit on TRAIN + VALIDATION for the chosen epochs, or the best TRAIN-only one.
    if args.refit:
        config = _config(args, work, ["refit", "valid", "valid"], epochs)
        init_seed(config["seed"], config["reproducibility"])
        dataset, train_data, _ = _data(config)
        init_seed(config["seed"], config["reproducibility"])
        model = SASRec(config, train_data.dataset).to(config["device"])
        print(f"sasrec: refit on TRAIN + VALIDATION for {epochs} epochs", flush=True)
        Trainer(config, model).fit(train_data, None, saved=False, show_progress=False)
    test_sequences = [s + [v] for s, v in zip(sequences, split["validation_targets"], strict=True)]
    test_scores = _scores(model, dataset, test_sequences, catalog_size, args.max_len, args.batch)
    test = _protocol(metrics, test_scores, split["test_targets"], split["test_excluded"])
    print(f"sasrec: TEST {test}", flush=True)
    if args.save_scores:
        np.savez_compressed(args.save_scores, test=test_scores.astype(np.float32), validation=valid_scores)

    result = {
        "dataset": split.get("dataset"),
        "system": f"SASRec (RecBole {recbole.__version__})",
        "test": test,
        "validation": validation,
        "test_split_sha256": split["test_split_sha256"],
        "params": {
            **{
                k: config[k]
                for k in (
                    "n_layers",
                    "n_heads",
                    "hidden_size",
                    "inner_size",
                    "hidden_dropout_prob",
                    "attn_dropout_prob",
                    "hidden_act",
                    "loss_type",
                    "learning_rate",
                    "train_batch_size",
                    "MAX_ITEM_LIST_LENGTH",
                    "seed",
                )
            },
            "max_epochs": args.epochs,
            "stopping_step": args.stopping_step,
            "valid_metric": f"NDCG@{args.valid_k} (RecBole full sort)",
            "best_epoch": best["epoch"],
            "epochs": epochs,
            "refit": args.refit,
            "test_input": f"TRAIN + VALIDATION items, the last {args.max_len}",
            "unseen_item_score": "the row's minimum - 1 (below every item RecBole knows; ties count against)",
            "valid_history": history,
            "unseen_items": int(
                catalog_size - sum(str(c) in dataset.field2token_id["item_id"] for c in range(catalog_size))
            ),
            "threads": args.threads,
        },
        "seconds": round(time.time() - started, 1),
        "versions": {
            "python": platform.python_version(),
            "recbole": recbole.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            **{m: __import__(m).__version__ for m in ("scipy", "pandas")},
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"sasrec: wrote {output} ({result['seconds']}s)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="msrec data directory -> RecBole files (msrec's venv)")
    e.add_argument("--data", required=True, help="a finished msrec preprocess output directory")
    e.add_argument("--output", required=True, help="folder for the files; its name is RecBole's dataset")
    e.add_argument("--max-len", type=int, default=50, help="history length (RecBole's MAX_ITEM_LIST_LENGTH)")
    r = sub.add_parser("run", help="train, select, refit and score SASRec (the throwaway venv)")
    r.add_argument("--input", required=True, help="the folder export wrote")
    r.add_argument("--output", required=True, help="result JSON")
    r.add_argument("--workdir", default="", help="RecBole's logs (default: OUTPUT.work)")
    r.add_argument("--epochs", type=int, default=300, help="at most (RecBole's default)")
    r.add_argument("--stopping-step", type=int, default=10, help="RecBole's early stopping patience")
    r.add_argument(
        "--no-refit", dest="refit", action="store_false", help="score TEST with the TRAIN-only model"
    )
    r.add_argument("--threads", type=int, default=1, help="torch threads")
    r.add_argument("--batch", type=int, default=512, help="users scored at a time")
    r.add_argument("--valid-k", type=int, default=10, help="the epoch is picked by VALIDATION NDCG@K")
    r.add_argument("--save-scores", default="", help="also save the [users, catalog] scores (.npz)")
    r.add_argument("--seed", type=int, default=2020, help="RecBole's default seed")
    args = p.parse_args(argv)
    export(args) if args.command == "export" else run(args)


if __name__ == "__main__":
    main()
