"""How sure is msrec's lead over a peer on TEST? A paired bootstrap over the evaluated users.

A lead of a few per cent on one TEST split is a sample: about 1,900 users on Last.fm, each with one held-out
item. This script ranks every TEST user's item with msrec's trained seeds (in-process, as ``msrec
evaluate`` does; the benchmark shows the served model equal) and with EASE^R (``bench/peers.py``: tuned
on VALIDATION over ``--lambdas``, refit on TRAIN + VALIDATION), then resamples the users with replacement
(``scipy.stats.bootstrap``, paired, BCa) for the relative lead ``mean(msrec) / mean(EASE^R) - 1`` of
HR@10 and NDCG@10. msrec's per-user value is the mean over its seeds, so the point estimate is the
benchmark's 3-seed mean. It also says in what share of resamples the lead reaches ``--goal``.

    python bench/lead.py --data W/data --models W/model-seed0 W/model-seed1 W/model-seed2 \\
        --lambdas 20,50,100 --output docs/lead-lastfm-2k.json

(``W``: an ``msrec benchmark --workdir``). It writes the JSON and prints one line per metric.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bench import peers  # noqa: E402
from msrec import metrics  # noqa: E402

METRICS = ("HR@10", "NDCG@10")


def per_user(ranks: np.ndarray, metric: str) -> np.ndarray:
    """One user's HR@10 or NDCG@10 from the target's rank (``metrics.summarize``'s terms)."""
    r = np.asarray(ranks, dtype=np.float64)
    hit = r <= 10
    if metric == "HR@10":
        return hit.astype(np.float64)
    return np.where(hit, 1 / np.log2(np.minimum(r, 1e9) + 1), 0.0)


def lead_interval(
    ours: np.ndarray, theirs: np.ndarray, goal: float, resamples: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """The relative lead ``mean(ours) / mean(theirs) - 1`` over paired per-user values: point, 95 %
    BCa interval, and the share of resamples where it reaches ``goal``."""
    from scipy import stats

    ratio = lambda a, b, axis=-1: a.mean(axis=axis) / b.mean(axis=axis) - 1  # noqa: E731
    rng = np.random.default_rng(seed)
    ci = stats.bootstrap(
        (ours, theirs),
        ratio,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        method="BCa",
        random_state=rng,
        batch=256,  # resamples (and BCa's jackknife samples) per call: memory O(256 x users)
    )
    # The share at or above the goal, from a plain resample of the same kind.
    leads = []
    for start in range(0, resamples, 256):  # bounded memory, as the interval's batches
        picks = rng.integers(0, len(ours), size=(min(256, resamples - start), len(ours)))
        leads.append(ours[picks].mean(axis=1) / theirs[picks].mean(axis=1) - 1)
    leads = np.concatenate(leads)
    return {
        "lead": float(ratio(ours, theirs)),
        "low": float(ci.confidence_interval.low),
        "high": float(ci.confidence_interval.high),
        "share_at_goal": float((leads >= goal).mean()),
    }


def msrec_ranks(data_dir: str, model_dirs: list[str]) -> tuple[list[str], np.ndarray]:
    """(TEST users, ``[seeds, users]`` ranks) of msrec's trained models."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from msrec.datadir import DataDir
    from trainer import artifacts, evaluate
    from trainer.scoring import Ranking

    users, ranks, source = None, [], DataDir.open(data_dir)
    for model_dir in model_dirs:
        model, config, _ = artifacts.load(model_dir, source)
        out = evaluate.evaluate(
            model, Ranking.of(config.model), source, "test", baseline=False, per_user=True
        )
        order = np.argsort(out["users"])
        if users is None:
            users = [out["users"][i] for i in order]
        ranks.append(np.asarray(out["ranks"])[order])
        shown = " ".join(f"{k} {out['model'][k]:.4f}" for k in METRICS)
        print(f"{model_dir}: TEST {shown}", flush=True)
    return users, np.stack(ranks)


def ease_ranks(data_dir: str, lambdas: list[float]) -> tuple[list[str], np.ndarray, float]:
    """(TEST users, ranks, lambda) of EASE^R as ``bench/peers.py`` runs it."""
    catalog, user_index, pairs, validation, test = peers.load(data_dir)
    num_items = len(catalog)
    train = peers.Interactions(len(user_index), num_items, pairs)
    full = peers.Interactions(len(user_index), num_items, peers.with_split(pairs, validation, user_index))
    lam = lambdas[0]
    if len(lambdas) > 1:
        gram = train.gram()
        fit = lambda v: peers.ease(train, float(v), gram)  # noqa: E731
        lam, _ = peers.tune("EASE^R", lambdas, fit, train, validation, user_index, print)
    ranks = peers.ranks(peers.ease(full, float(lam)), full, test, user_index)
    order = np.argsort(test.users)
    return [test.users[i] for i in order], ranks[order], float(lam)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the benchmark's preprocessed data directory")
    p.add_argument("--models", nargs="+", required=True, help="msrec's trained seeds (model directories)")
    p.add_argument(
        "--lambdas",
        default=",".join(f"{v:g}" for v in peers.DEFAULT_LAMBDAS),
        help="EASE^R lambdas tuned on VALIDATION (default: peers.py's)",
    )
    p.add_argument("--goal", type=float, default=0.10, help="the lead asked for (0.10: +10 %%)")
    p.add_argument("--resamples", type=int, default=10_000)
    p.add_argument("--output", required=True)
    args = p.parse_args(argv)
    started = time.time()
    # EASE^R first: peers.py reads the records with TensorFlow on one thread, set before TF starts.
    their_users, theirs, lam = ease_ranks(args.data, [float(v) for v in args.lambdas.split(",")])
    users, ours = msrec_ranks(args.data, args.models)
    if users != their_users:
        raise SystemExit("lead: msrec and EASE^R were scored on different TEST users")
    peer_name = f"EASE^R (lambda={lam:g})"
    print(f"{peer_name}: TEST " + " ".join(f"{k} {metrics.summarize(theirs)[k]:.4f}" for k in METRICS))
    result = {
        "data": args.data,
        "models": args.models,
        "peer": peer_name,
        "users": len(users),
        "goal": args.goal,
        "resamples": args.resamples,
    }
    for metric in METRICS:
        mine = np.mean([per_user(r, metric) for r in ours], axis=0)
        peer = per_user(theirs, metric)
        result[metric] = {"msrec": float(mine.mean()), "peer": float(peer.mean())} | lead_interval(
            mine, peer, args.goal, args.resamples
        )
        r = result[metric]
        print(
            f"{metric}: msrec {r['msrec']:.4f}, {peer_name} {r['peer']:.4f}: lead {r['lead']:+.1%}, "
            f"95 % interval [{r['low']:+.1%}, {r['high']:+.1%}]; {r['share_at_goal']:.0%} of resamples "
            f"reach {args.goal:+.0%}",
            flush=True,
        )
    result["seconds"] = round(time.time() - started, 1)
    pathlib.Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
