"""Saving and restoring a trained model directory.

The directory holds the resolved config, a ``run.json`` naming the data
directory it was trained on, and the final weights; restoring rebuilds the
model from those and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf

from msrec import auto, paths
from msrec import config as msrec_config
from msrec import features as F
from trainer import data, tables
from trainer.model import TwoTowerModel

WEIGHTS = "final"


def build(data_dir: str, config: msrec_config.Config) -> TwoTowerModel:
    """A model for ``data_dir`` with its variables created (``auto`` settings resolved against it)."""
    config, _ = auto.resolve(config, data.metadata(data_dir))
    model = TwoTowerModel(
        tables.read(data_dir, config.model.evidence_in_loss > 0, config.train.refit), config.model
    )
    model.trained_on_validation = config.train.refit
    model(F.sample(F.select(model.tables.contract, F.QUERY, F.CANDIDATE)))
    return model


def save(model: TwoTowerModel, model_dir: str, config: msrec_config.Config, run: dict[str, Any]) -> None:
    tf.io.gfile.makedirs(paths.checkpoints(model_dir))
    model.save_weights(paths.join(paths.checkpoints(model_dir), WEIGHTS))
    msrec_config.save(config, paths.model_config(model_dir))
    with tf.io.gfile.GFile(paths.model_run(model_dir), "w") as f:
        json.dump(run, f, indent=2, sort_keys=True)


def read_run(model_dir: str) -> dict[str, Any]:
    with tf.io.gfile.GFile(paths.model_run(model_dir)) as f:
        return json.load(f)


def load(model_dir: str, data_dir: str | None = None) -> tuple[TwoTowerModel, msrec_config.Config, str]:
    """Restores ``(model, config, data_dir)``; ``data_dir`` defaults to the one trained on."""
    with tf.io.gfile.GFile(paths.model_config(model_dir)) as f:
        config = msrec_config.from_dict(msrec_config.Config, json.load(f))
    data_dir = data_dir or read_run(model_dir)["data_dir"]
    model = build(data_dir, config)
    model.load_weights(paths.join(paths.checkpoints(model_dir), WEIGHTS)).expect_partial()
    if model.candidate_tower.text is not None:
        # this data directory's order, not the checkpoint's
        model.candidate_tower.text.reset_vectors(model.tables.text_vectors)
    return model, config, data_dir
