"""The training job: ``python -m trainer.task`` (cloud) and ``msrec train`` share ``run``.

Flags are parsed only in ``main``; ``run`` takes the resolved config. Cloud
conventions: ``TF_CONFIG`` selects ``MultiWorkerMirroredStrategy``, and
``AIP_MODEL_DIR`` replaces ``--model-dir`` when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Sequence

import tensorflow as tf

import msrec  # the trainer package imported msrec (Keras 2) before this TensorFlow import
from msrec import config as msrec_config
from msrec import features as F
from msrec import paths
from trainer import artifacts, data


def strategy() -> tf.distribute.Strategy:
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def run(config: msrec_config.Config, data_dir: str, model_dir: str, verbose: int = 2) -> dict[str, Any]:
    """Trains on ``data_dir`` (TRAIN, plus VALIDATION when refitting) and saves into ``model_dir``.

    Returns:
      The run record written to ``run.json`` (data dir, loss per epoch, seconds).
    """
    tf.keras.utils.set_random_seed(config.train.seed)
    contract = data.contract(data_dir)
    splits = ("train", "validation") if config.train.refit else "train"
    train = data.dataset(
        data_dir,
        splits,
        F.select(contract, F.QUERY, F.CANDIDATE),
        config.train.batch_size,
        config.train.shuffle_buffer,
        config.train.seed,
    )
    with strategy().scope():
        model = artifacts.build(data_dir, config)
        model.compile(optimizer=tf.keras.optimizers.Adam(config.train.learning_rate))
    tf.io.gfile.makedirs(model_dir)
    callbacks = [
        tf.keras.callbacks.TensorBoard(paths.logs(model_dir)),
        tf.keras.callbacks.BackupAndRestore(paths.join(paths.checkpoints(model_dir), "backup")),
    ]
    started = time.time()
    history = model.fit(train, epochs=config.train.epochs, callbacks=callbacks, verbose=verbose)
    run_record = {
        "data_dir": data_dir,
        "loss": [round(x, 5) for x in history.history["loss"]],
        "seconds": round(time.time() - started, 1),
        "msrec_version": msrec.__version__,
    }
    artifacts.save(model, model_dir, config, run_record)
    return run_record


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trainer.task", description="Train the msrec two-tower model.")
    p.add_argument("--data", required=True, help="preprocessed data directory (msrec preprocess --output)")
    p.add_argument(
        "--model-dir",
        default=os.environ.get("AIP_MODEL_DIR"),
        help="where the model is written (default: $AIP_MODEL_DIR)",
    )
    p.add_argument("--config", help="JSON/YAML config file; defaults for every missing key")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set model.embedding_dim=32 (repeatable)",
    )
    p.add_argument("--epochs", type=int, help="shorthand for --set train.epochs=N")
    return p


def resolve_config(args: argparse.Namespace) -> msrec_config.Config:
    overrides = list(args.set) + ([f"train.epochs={args.epochs}"] if args.epochs else [])
    return msrec_config.override(msrec_config.load(args.config), overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.model_dir:
        parser().error("--model-dir is required when AIP_MODEL_DIR is not set")
    record = run(resolve_config(args), args.data, args.model_dir)
    print(json.dumps({"model_dir": args.model_dir, **record}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
