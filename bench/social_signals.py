"""Which social signals would lift ranking where behaviour is thin: an offline check on VALIDATION.

Issue 28 asks for a friends' evidence term and a propagated user-item signal in msrec's ranking mix.
Before either is built, this measures both on a preprocessed data directory with numpy and scipy, on
VALIDATION only (TEST records are never read):

* **base**: EASE^R fitted on TRAIN, as ``bench/peers.py`` fits it (``--lambdas``: one value, or a
  grid tuned on VALIDATION): the evidence part of msrec's mix, standing in for msrec's ranking;
* **friends**: ``sum_f a_uf [j in TRAIN(f)] + decay * sum_f sum_g a_uf a_fg [j in TRAIN(g)]``, where
  ``a_u.`` is the user's friend list as the ``users`` records hold it (``friend_ids`` and
  ``friend_weights``: the 20 strongest ties, tie strength 1 + TRAIN items in common; the export's
  user table holds the same) normalised to sum 1, or uniform over the friends;
* **propagation**: LightGCN's score with identity embeddings and layer sums,
  ``(sum_{k<=K} A^k)^2`` at (user, item), ``A`` the symmetrically normalised adjacency of the
  TRAIN user-item graph plus ``beta`` times the friend graph (``beta`` 0: behaviour alone).

Each term is mixed as ``EASE^R + w * c * term`` (``c`` puts the term on EASE^R's scale: the ratio of
median row maxima in the first batch of users; ``w`` from ``--weights``) and every VALIDATION target is
ranked by ``msrec.metrics.ranks`` (TRAIN items excluded). Reported overall and per history segment
(``msrec.metrics.by_history``): with the ``w`` best on all of VALIDATION (in-sample), cross-fitted
(``w`` chosen on one half of the users, scored on the other), and cross-fitted per segment; with a
paired bootstrap interval of the cross-fitted lift over EASE^R (``bench/lead.py``).

    python bench/social_signals.py --data DATA --output runs/social-ciaodvd.json --lambdas 250 --threads 2
"""

from __future__ import annotations

import os
import sys

# BLAS reads these when numpy is first imported (as bench/peers.py does).
_THREADS = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--threads"), "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bench import lead, peers  # noqa: E402
from bench.interactions import Interactions, Split, described, load, records  # noqa: E402
from msrec import features as F  # noqa: E402
from msrec import metrics  # noqa: E402

BATCH = 512
WEIGHTS = (0.03, 0.1, 0.3, 1.0, 3.0)
THIN = ("users: 1-2 known items", "users: 3-5")
# A term maps a batch of user indices to their [B, catalog] scores.
Term = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------------ graphs
def friend_matrix(data_dir: str, user_index: dict[str, int]) -> sparse.csr_matrix:
    """``[users, users]`` tie strengths of each TRAIN user's friend list (the ``users`` records).
    Friends without TRAIN events have no items to give and are left out."""
    rec = records(data_dir, "users", [F.USER_ID, F.FRIEND_IDS, F.FRIEND_WEIGHTS])
    rows, cols, values = [], [], []
    for user, friends, weights in zip(*rec.values(), strict=True):
        if user not in user_index:
            continue
        for friend, weight in zip(friends, weights, strict=True):
            if friend in user_index and weight > 0:
                rows.append(user_index[user])
                cols.append(user_index[friend])
                values.append(weight)
    n = len(user_index)
    return sparse.csr_matrix((np.asarray(values, np.float32), (rows, cols)), shape=(n, n))


def row_normalised(m: sparse.csr_matrix) -> sparse.csr_matrix:
    sums = np.asarray(m.sum(axis=1)).ravel()
    return sparse.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ m


def item_matrix(train: Interactions) -> sparse.csr_matrix:
    """``[users, catalog]`` ones at the TRAIN pairs."""
    ones = np.ones(len(train.users), np.float32)
    return sparse.csr_matrix((ones, (train.users, train.items_of)), shape=(train.num_users, train.num_items))


def friends_term(friends: sparse.csr_matrix, items: sparse.csr_matrix, tie: bool, decay: float) -> Term:
    """Friends' TRAIN items, weighted by normalised tie strength (or uniformly), plus ``decay`` times
    the friends' friends' items (the user's own, reached back through a friend, are known items)."""
    a = row_normalised(friends if tie else (friends > 0).astype(np.float32))

    def term(users: np.ndarray) -> np.ndarray:
        first = a[users]
        out = (first @ items).toarray()
        if decay:
            out += decay * ((first @ a) @ items).toarray()
        return out

    return term


def adjacency(items: sparse.csr_matrix, friends: sparse.csr_matrix, beta: float) -> sparse.csr_matrix:
    """``D^-1/2 A D^-1/2`` over users then items: the TRAIN user-item edges and ``beta`` times the
    (symmetrised, unweighted) friend edges."""
    social = ((friends + friends.T) > 0).astype(np.float32) * beta
    a = sparse.bmat([[social, items], [items.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(a.sum(axis=1)).ravel()
    scale = sparse.diags(np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0))
    return (scale @ a @ scale).tocsr().astype(np.float32)


def propagation_term(a: sparse.csr_matrix, num_users: int, layers: int) -> Term:
    """The (user, item) entries of ``(sum_{k=0..layers} A^k)^2``: LightGCN's layer-summed embeddings
    of one-hot inputs, dotted. The coefficient of ``A^d`` is ``min(d, 2 layers - d) + 1``."""
    coefficients = [min(d, 2 * layers - d) + 1 for d in range(2 * layers + 1)]

    def term(users: np.ndarray) -> np.ndarray:
        x = np.zeros((a.shape[0], len(users)), np.float32)
        x[users, np.arange(len(users))] = 1.0
        out = np.zeros((a.shape[0] - num_users, len(users)), np.float32)
        for coefficient in coefficients[1:]:
            x = a @ x
            out += coefficient * x[num_users:]
        return out.T

    return term


# ------------------------------------------------------------------------------------------ ranking
def rank_grid(
    base: peers.Scorer, terms: dict[str, Term], weights: tuple[float, ...], train: Interactions,
    validation: Split, user_index: dict[str, int], log,
) -> tuple[np.ndarray, dict[str, dict]]:  # fmt: skip
    """EASE^R's VALIDATION ranks, and per term its ``[weights, users]`` ranks of the mixes, scale,
    reach (users whose target the term scores above 0) and seconds spent computing the term."""
    rows = np.array([user_index[u] for u in validation.users])
    base_ranks, found = [], {name: {"ranks": [], "reach": [], "seconds": 0.0} for name in terms}
    for start in range(0, len(rows), BATCH):
        sl = slice(start, start + BATCH)
        users, targets, seen = rows[sl], validation.targets[sl], validation.seen[sl]
        ease = base([train.history(u) for u in users])
        base_ranks.append(metrics.ranks(ease, targets, seen))
        for name, term in terms.items():
            t0 = time.perf_counter()
            t = term(users)
            out = found[name]
            out["seconds"] += time.perf_counter() - t0
            if "scale" not in out:  # the first batch puts the term on EASE^R's scale, once
                peak = t.max(axis=1)
                ratio = (
                    np.median(ease.max(axis=1)) / max(np.median(peak[peak > 0]), 1e-12) if peak.any() else 1
                )
                out["scale"] = float(ratio)
            out["reach"].append(t[np.arange(len(users)), targets] > 0)
            out["ranks"].append([metrics.ranks(ease + w * out["scale"] * t, targets, seen) for w in weights])
        log(f"  ranked {min(start + BATCH, len(rows))} of {len(rows)} validation users")
    for out in found.values():
        out["ranks"] = np.concatenate(out.pop("ranks"), axis=1)
        out["reach"] = np.concatenate(out["reach"])
    return np.concatenate(base_ranks), found


def _ndcg(ranks: np.ndarray) -> np.ndarray:
    return lead.per_user(ranks, "NDCG@10")


def crossfit(
    grid: np.ndarray, base: np.ndarray, fold: np.ndarray, groups: np.ndarray, weights: tuple[float, ...]
) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Per user the rank under the weight (0: EASE^R alone) that scored the best NDCG@10 on the other
    fold's users of the same group; and the weights chosen per group, for folds 0 and 1."""
    candidates, values = np.vstack([base[None, :], grid]), (0.0, *weights)
    out, chosen = np.empty_like(base), {}
    for group in np.unique(groups):
        for f in (0, 1):
            here, other = (groups == group) & (fold == f), (groups == group) & (fold != f)
            best = int(np.argmax(_ndcg(candidates[:, other]).mean(axis=1))) if other.any() else 0
            out[here] = candidates[best, here]
            chosen.setdefault(str(group), []).append(values[best])
    return out, chosen


def lift(ours: np.ndarray, theirs: np.ndarray, resamples: int) -> dict[str, float] | None:
    """``bench/lead.py``'s paired bootstrap of the relative lead (None when there is nothing to resample:
    no users, or no hit for EASE^R, or the same values everywhere)."""
    if not len(ours) or not theirs.mean() or np.array_equal(ours, theirs):
        return None
    return lead.lead_interval(ours, theirs, goal=0.10, resamples=resamples)


def summary(ranks: np.ndarray, known: np.ndarray) -> dict:
    keep = ("HR@10", "NDCG@10", "num_users")
    by = metrics.by_history(ranks, known)
    return {"overall": {k: metrics.summarize(ranks)[k] for k in keep}} | {
        name: {k: m[k] for k in keep} for name, m in by.items()
    }


def compare(
    found: dict, base: np.ndarray, validation: Split, weights: tuple[float, ...], resamples: int
) -> dict[str, dict]:
    """Per term: the in-sample best weight and its metrics, the cross-fitted ones, and the interval."""
    known = np.array([len(s) for s in validation.seen])
    segment = np.array([metrics.history_segment(int(n)) for n in known])
    fold = np.array([zlib.crc32(u.encode()) % 2 for u in validation.users])
    thin = np.isin(segment, THIN)
    out = {}
    for name, f in found.items():
        candidates = np.vstack([base[None, :], f["ranks"]])  # w = 0 first: EASE^R alone wins ties
        best = int(np.argmax(_ndcg(candidates).mean(axis=1)))
        mixed, _ = crossfit(f["ranks"], base, fold, np.zeros(len(base), int), weights)
        by_segment, chosen = crossfit(f["ranks"], base, fold, segment, weights)
        out[name] = {
            "scale": f["scale"],
            "seconds": round(f["seconds"], 1),
            "weight": (0.0, *weights)[best],
            "in_sample": summary(candidates[best], known),
            "crossfit": summary(mixed, known),
            "crossfit_by_segment": summary(by_segment, known),
            "segment_weights": chosen,
            "reach": {"overall": float(f["reach"].mean()), "1-5 known items": float(f["reach"][thin].mean())},
            "ndcg_lift": lift(_ndcg(mixed), _ndcg(base), resamples),
            "ndcg_lift_1_5": lift(_ndcg(mixed[thin]), _ndcg(base[thin]), resamples),
            "by_weight_ndcg": [float(v) for v in _ndcg(f["ranks"]).mean(axis=1)],
        }
    return out


# ------------------------------------------------------------------------------------------ driver
def terms_of(train: Interactions, friends: sparse.csr_matrix) -> tuple[dict[str, Term], dict]:
    """The measured terms, and the sizes of what they hold (entries and bytes of their sparse matrices)."""
    items = item_matrix(train)
    adjacencies = {beta: adjacency(items, friends, beta) for beta in (0.0, 1.0)}
    n = train.num_users
    terms = {
        "friends (tie strength)": friends_term(friends, items, tie=True, decay=0.0),
        "friends (uniform)": friends_term(friends, items, tie=False, decay=0.0),
        "friends + friends of friends (decay 0.5)": friends_term(friends, items, tie=True, decay=0.5),
        "propagation K=2, behaviour only": propagation_term(adjacencies[0.0], n, 2),
        "propagation K=2, with friends": propagation_term(adjacencies[1.0], n, 2),
        "propagation K=3, with friends": propagation_term(adjacencies[1.0], n, 3),
    }
    size = lambda m: {"nnz": int(m.nnz), "bytes": int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)}  # noqa: E731
    sizes = {"friends": size(friends), "items": size(items), "adjacency": size(adjacencies[1.0])}
    return terms, sizes


def run(data_dir: str, lambdas: list[float], weights: tuple[float, ...], resamples: int, log=print) -> dict:
    """Every term measured on ``data_dir``'s VALIDATION (see the module docstring)."""
    t0 = time.perf_counter()
    catalog, user_index, pairs, validation, _ = load(data_dir, test=False)
    train = Interactions(len(user_index), len(catalog), pairs)
    gram = train.gram()
    lam = lambdas[0]
    if len(lambdas) > 1:
        fit = lambda v: peers.ease(train, float(v), gram)  # noqa: E731
        lam, _ = peers.tune("lambda", lambdas, fit, train, validation, user_index, log)
    base = peers.ease(train, float(lam), gram)
    gram = None  # free it before the terms are built (the tuning closure is done with it)
    friends = friend_matrix(data_dir, user_index)
    terms, sizes = terms_of(train, friends)
    log(f"{data_dir}: {len(validation.users)} validation users, lambda {lam:g}; ranking {len(terms)} terms")
    base_ranks, found = rank_grid(base, terms, weights, train, validation, user_index, log)
    known = np.array([len(s) for s in validation.seen])
    rows = np.array([user_index[u] for u in validation.users])
    has_friends = np.diff(friends.indptr)[rows] > 0
    thin = np.isin([metrics.history_segment(int(n)) for n in known], THIN)
    return {
        **described(data_dir),
        "split": "validation",
        "lambda": float(lam),
        "weights": list(weights),
        "train_users": len(user_index),
        "catalog": len(catalog),
        "train_interactions": int(len(pairs)),
        "with_friends": {
            "overall": float(has_friends.mean()),
            "1-5 known items": float(has_friends[thin].mean()),
        },
        "sizes": sizes,
        "base": summary(base_ranks, known),
        "terms": compare(found, base_ranks, validation, weights, resamples),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _cells(m: dict) -> str:
    return f"{m['HR@10']:.4f} / {m['NDCG@10']:.4f}"


def _interval(found: dict | None) -> str:
    return "-" if found is None else f"{found['lead']:+.1%} ({found['low']:+.1%} to {found['high']:+.1%})"


def table(result: dict) -> str:
    """The markdown summary: EASE^R alone, then each term (in-sample best, cross-fitted, lift)."""
    segments = [s for s in ("overall", *THIN) if s in result["base"]]
    counts = ", ".join(f"{s} {result['base'][s]['num_users']:,}" for s in segments)
    lines = [
        f"{result['dataset']}: VALIDATION, {counts} users; EASE^R lambda {result['lambda']:g}; users with "
        f"friends {result['with_friends']['overall']:.0%} (1-5 known items: "
        f"{result['with_friends']['1-5 known items']:.0%}). HR@10 / NDCG@10.",
        "",
        "| ranking | w | " + " | ".join(segments) + " | cross-fitted overall | cross-fitted by segment, "
        "1-2 / 3-5 | NDCG@10 lift (cross-fitted) | lift, 1-5 known | target reached |",
        "|---" * (len(segments) + 7) + "|",
        "| EASE^R alone | - | " + " | ".join(_cells(result["base"][s]) for s in segments) + " |" + " - |" * 5,
    ]
    for name, t in result["terms"].items():
        by = " / ".join(
            f"{t['crossfit_by_segment'][s]['NDCG@10']:.4f}" for s in THIN if s in t["crossfit_by_segment"]
        )
        lines.append(
            f"| EASE^R + {name} | {t['weight']:g} | "
            + " | ".join(_cells(t["in_sample"][s]) for s in segments)
            + f" | {_cells(t['crossfit']['overall'])} | {by} | {_interval(t['ndcg_lift'])} | "
            f"{_interval(t['ndcg_lift_1_5'])} | {t['reach']['overall']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a finished `msrec preprocess` output directory")
    p.add_argument("--output", required=True, help="JSON result; the markdown table goes next to it (.md)")
    p.add_argument("--lambdas", default="250", help="EASE^R's lambda, or a grid tuned on VALIDATION")
    p.add_argument("--weights", default=",".join(f"{w:g}" for w in WEIGHTS), help="mixing weights tried")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of the lift")
    p.add_argument("--threads", default="1", help="BLAS threads (default 1)")
    args = p.parse_args(argv)
    if not os.path.exists(os.path.join(args.data, "_SUCCESS")):
        raise SystemExit(f"social_signals: {args.data} is not a finished preprocessing output (no _SUCCESS)")
    lambdas = [float(v) for v in args.lambdas.split(",") if v.strip()]
    weights = tuple(float(v) for v in args.weights.split(",") if v.strip())
    result = run(args.data, lambdas, weights, args.resamples, log=lambda s: print(s, flush=True))
    result["command"] = "python bench/social_signals.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(table(result))
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
