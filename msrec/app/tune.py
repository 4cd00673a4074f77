"""``msrec tune``: the few settings that matter, searched on VALIDATION within a time budget.

Optuna (TPE) proposes trials; each trains on TRAIN only (``train.refit=false``), then picks
the ranking's mix on VALIDATION (``trainer/mix.py``) and reports that NDCG@10. The first
trial is the shipped defaults, so tuning never returns anything worse than them on
VALIDATION; where the best trial overfit, the chosen config stops the refit at the epoch its
early stopping kept (``train.stop_after``, ``trainer.task.refit_overrides``). Optuna rather than
Keras Tuner: the objective is a whole training job plus a post-hoc choice outside Keras' ``fit``,
and Optuna's ask-and-tell study with a wall-clock
``timeout`` fits that directly, with enqueued trials for the defaults. The result is a config
file (the chosen values) that ``msrec train --config`` or ``msrec benchmark --config`` uses,
and a table of the trials.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from msrec import config as msrec_config
from msrec.app import progress
from msrec.datadir import DataDir

SEARCHED = ("model.temperature", "model.embedding_dim", "train.epochs", "train.learning_rate")


def suggest(trial: Any, timed: bool) -> list[str]:
    """One trial's overrides (``section.key=value``)."""
    values = [
        f"model.temperature={trial.suggest_float('temperature', 0.03, 0.3, log=True)}",
        f"model.embedding_dim={trial.suggest_categorical('embedding_dim', [32, 64, 128])}",
        f"train.epochs={trial.suggest_int('epochs', 4, 16)}",
        f"train.learning_rate={trial.suggest_float('learning_rate', 1e-3, 2e-2, log=True)}",
    ]
    if timed and trial.suggest_categorical("sequence", [True, False]) is False:
        values.append("model.sources=id,content,profile,social,item_graph")
    return values


def run(data: DataDir, workdir: str, base: msrec_config.Config, budget_minutes: float) -> dict[str, Any]:
    """Searches for ``budget_minutes``; returns the best overrides, its config and every trial."""
    import optuna

    from trainer import artifacts, mix, task
    from trainer.scoring import Ranking

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timed = data.timed
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    defaults = {"temperature": base.model.temperature, "embedding_dim": base.model.embedding_dim}
    defaults |= {"epochs": base.train.epochs, "learning_rate": base.train.learning_rate}
    study.enqueue_trial(defaults | ({"sequence": True} if timed else {}))
    shown = progress.RunProgress("tune", None)
    rows: list[dict[str, Any]] = []

    def objective(trial) -> float:
        overrides = suggest(trial, timed) + ["train.refit=false", "train.seed=0"]
        cfg = msrec_config.override(base, overrides)
        model_dir = os.path.join(workdir, f"trial-{trial.number}")
        shown.show(f"trial {trial.number + 1} · train")
        started = time.time()
        record = task.run(cfg, data, model_dir, verbose=0, extra_callbacks=(shown.epoch_callback(),))
        shown.show(f"trial {trial.number + 1} · choose the mix")
        model, trained, _ = artifacts.load(model_dir, data)
        chosen, table = mix.choose(model, Ranking.of(trained.model), data)
        best = max(table, key=lambda r: r["NDCG@10"])
        trial.set_user_attr("mix", chosen)
        trial.set_user_attr("refit", task.refit_overrides(record, cfg.train.epochs))
        rows.append({"trial": trial.number, **trial.params, "best_epoch": record["best_epoch"], **chosen,
                     "HR@10": best["HR@10"], "NDCG@10": best["NDCG@10"],
                     "seconds": round(time.time() - started, 1)})  # fmt: skip
        shown.step()
        shown.write(f"trial {trial.number}: NDCG@10 {best['NDCG@10']:.4f} {trial.params} {chosen}")
        return best["NDCG@10"]

    study.optimize(objective, timeout=budget_minutes * 60, n_trials=None)
    shown.close()
    best = study.best_trial
    chosen = suggest(optuna.trial.FixedTrial(best.params), timed)
    chosen += mix.overrides(best.user_attrs["mix"]) + best.user_attrs["refit"]
    tuned = msrec_config.override(base, chosen)
    tuned, reasons = data.resolve(tuned)
    return {"overrides": chosen, "config": msrec_config.to_dict(tuned), "reasons": reasons, "trials": rows}


def markdown(result: dict[str, Any]) -> str:
    """The trials as a table, best first."""
    rows = sorted(result["trials"], key=lambda r: -r["NDCG@10"])
    keys = [k for k in rows[0] if k != "trial"] if rows else []
    lines = ["| trial | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        cells = [f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        lines.append(f"| {r['trial']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], output_dir: str) -> str:
    """Writes ``tuned.json`` (a config file for ``--config``), ``trials.json`` and ``trials.md``."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "tuned.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result["config"], f, indent=2)
    with open(os.path.join(output_dir, "trials.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(output_dir, "trials.md"), "w", encoding="utf-8") as f:
        f.write(markdown(result))
    return path
