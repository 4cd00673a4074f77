"""The training job: ``python -m trainer.task`` (cloud) and ``msrec train`` share ``run``.

Flags are parsed only in ``main``; ``run`` takes the resolved config. Cloud
conventions: ``TF_CONFIG`` selects ``MultiWorkerMirroredStrategy``;
``AIP_MODEL_DIR`` stands in for ``--model-dir``, and ``AIP_CHECKPOINT_DIR`` /
``AIP_TENSORBOARD_LOG_DIR`` move checkpoints and logs when they are set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any, Sequence

import tensorflow as tf

import msrec  # the trainer package imported msrec (Keras 2) before this TensorFlow import
from msrec import config as msrec_config
from msrec import features as F
from msrec import flags, paths
from msrec.datadir import DataDir
from trainer import artifacts, callbacks, data
from trainer.scoring import Ranking


def strategy() -> tf.distribute.Strategy:
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this worker saves: the chief writes ``model_dir``, other workers a side folder."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if (
        resolver is None
        or resolver.task_type in (None, "chief")
        or (
            resolver.task_type == "worker"
            and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().jobs
        )
    ):
        return model_dir
    return paths.join(model_dir, "workers", f"{resolver.task_type}-{resolver.task_id}")


def learning_rate(train: msrec_config.TrainConfig, source: DataDir) -> Any:
    """The configured rate, or a cosine decay to zero over every step of ``train.epochs``."""
    if train.lr_schedule == "constant":
        return train.learning_rate
    examples = source.examples("train") + (source.examples("validation") if train.refit else 0)
    steps = train.epochs * math.ceil(examples / train.batch_size)
    return tf.keras.optimizers.schedules.CosineDecay(train.learning_rate, decay_steps=steps)


# How far below its best the validation run must end before the refit stops early: within it, the curve
# is flat up to the epoch-to-epoch swing (MovieLens: -2.4 %, then back), and the cosine's last epochs help.
OVERFIT_DROP = 0.05


def refit_overrides(validation_run: dict[str, Any], epochs: int) -> list[str]:
    """``train.stop_after`` for a refit, from a validation run's record (``run.json``) over ``epochs``:
    the epoch early stopping kept, when the run then fell more than ``OVERFIT_DROP`` below it (else
    nothing: the refit trains every epoch).

    Early stopping restores the validation run's best epoch, and the ranking's mix is chosen on that
    model. Where the towers overfit, a refit over every epoch trains on past it: on CiaoDVD the
    validation run kept epoch 4 of 12 and fell 12 % by epoch 6; its refit over 12 epochs scored TEST
    HR@10 / NDCG@10 0.0721 / 0.0391, stopped after 4 (the schedule still spanning 12) 0.0757 / 0.0408,
    with the schedule shrunk to 4 epochs 0.0740 / 0.0394. Where the curve is only flat, stopping costs:
    MovieLens kept epoch 9 of 11 run (the last 0.9 % below it); seed 0 stopped after 9 scored
    0.2174 / 0.1194, over all 12 epochs 0.2259 / 0.1222 (``docs/tuning.md``).
    """
    best, curve = validation_run.get("best_epoch"), validation_run.get("val_NDCG@10") or []
    # max(curve), not curve[best - 1]: a resumed run's curve starts after its backup's epochs
    if not best or best >= epochs or not curve or curve[-1] >= (1 - OVERFIT_DROP) * max(curve):
        return []
    return [f"train.stop_after={best}"]


def run(
    config: msrec_config.Config,
    source: DataDir,
    model_dir: str,
    verbose: int = 2,
    checkpoint_dir: str | None = None,
    log_dir: str | None = None,
    extra_callbacks: tuple[tf.keras.callbacks.Callback, ...] = (),
) -> dict[str, Any]:
    """Trains on ``source`` (TRAIN, plus VALIDATION when refitting) and saves into ``model_dir``.

    Returns:
      The run record written to ``run.json`` (data dir, loss per epoch, seconds).
    """
    distribution = strategy()  # first: collective ops must be configured before any other TF work
    config, resolved = source.resolve(config)
    for key, reason in resolved.items():
        print(f"msrec train: {key} = {reason}", flush=True)
    tf.keras.utils.set_random_seed(config.train.seed)
    splits = ("train", "validation") if config.train.refit else "train"
    train = data.dataset(
        source,
        splits,
        F.select(source.contract, F.QUERY, F.CANDIDATE, F.CONTEXT),
        config.train.batch_size,
        config.train.shuffle_buffer,
        config.train.seed,
    )
    with distribution.scope():
        model = artifacts.build(source, config)
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate(config.train, source)))
    model_dir = worker_dir(model_dir, distribution)
    tf.io.gfile.makedirs(model_dir)
    hooks = fit_callbacks(config, source, model_dir, checkpoint_dir, log_dir) + list(extra_callbacks)
    started = time.time()
    epochs = min(config.train.stop_after or config.train.epochs, config.train.epochs)
    history = model.fit(train, epochs=epochs, callbacks=hooks, verbose=verbose)
    run_record = record(history, source, time.time() - started, resolved)
    artifacts.save(model, model_dir, config, run_record)
    return run_record


def fit_callbacks(
    config: msrec_config.Config,
    source: DataDir,
    model_dir: str,
    checkpoint_dir: str | None,
    log_dir: str | None,
) -> list[tf.keras.callbacks.Callback]:
    """Validation metrics and early stopping (a run without refit), TensorBoard, the backup to resume
    from. A caller's callbacks go after the backup, so one that stops the job sees it saved."""
    hooks = []
    if not config.train.refit and config.train.early_stopping_patience:
        hooks += [
            callbacks.ValidationMetrics(source, Ranking.of(config.model)),
            callbacks.early_stopping(config.train.early_stopping_patience),
        ]
    backup = paths.join(checkpoint_dir or paths.checkpoints(model_dir), "backup")
    return hooks + [
        tf.keras.callbacks.TensorBoard(log_dir or paths.logs(model_dir)),
        tf.keras.callbacks.BackupAndRestore(backup),
    ]


def record(
    history: tf.keras.callbacks.History, source: DataDir, seconds: float, resolved: dict[str, str]
) -> dict[str, Any]:
    """The run's ``run.json``: the epochs run (a resumed run starts after its backup's), loss and
    validation curves, the kept epoch, the time, and the ``auto`` settings with their reasons."""
    validation = history.history.get("val_NDCG@10", [])
    run_epochs = [e + 1 for e in history.epoch]
    best = run_epochs[max(range(len(validation)), key=validation.__getitem__)] if validation else None
    return {
        "data_dir": source.path,
        "epochs": run_epochs,
        "loss": [round(x, 5) for x in history.history["loss"]],
        "val_NDCG@10": [round(x, 5) for x in validation],
        "best_epoch": best,
        "seconds": round(seconds, 1),
        "msrec_version": msrec.__version__,
        "resolved": resolved,  # the values are in config.json
    }


def parser() -> argparse.ArgumentParser:
    """The job's flags, shared with ``msrec train`` (``msrec/flags.py``)."""
    return flags.training(
        argparse.ArgumentParser(prog="trainer.task", description="Train the msrec two-tower model.")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    record = run(
        flags.training_config(args),
        DataDir.open(args.data),
        args.model_dir,
        checkpoint_dir=os.environ.get("AIP_CHECKPOINT_DIR"),
        log_dir=os.environ.get("AIP_TENSORBOARD_LOG_DIR"),
    )
    print(json.dumps({"model_dir": args.model_dir, **record}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
