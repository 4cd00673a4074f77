"""Saving and restoring a trained model directory.

The directory holds the resolved config, a ``run.json`` naming the data
directory it was trained on, and the final weights; restoring rebuilds the
model from those and the data directory's handle, nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf

from msrec import config as msrec_config
from msrec import errors, paths
from msrec import features as F
from msrec.datadir import DataDir
from trainer import new_items as text
from trainer import tables
from trainer.export import Served
from trainer.model import TwoTowerModel

WEIGHTS = "final"


def build(data: DataDir, config: msrec_config.Config) -> TwoTowerModel:
    """A model for ``data`` with its variables created (``auto`` settings resolved against it).

    Its tables hold the scoring graph when its ranking can read it (the ``item_graph`` source: the
    mix chosen on VALIDATION may weigh it) or its loss does, over the data it learns from (TRAIN,
    or TRAIN + VALIDATION when ``train.refit``).
    """
    config, _ = data.resolve(config)
    graph = "item_graph" in config.model.sources or config.model.evidence_in_loss > 0
    model = TwoTowerModel(tables.read(data, config.train.refit, graph), config.model)
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


def read_config(model_dir: str) -> msrec_config.Config:
    """The resolved config a finished training run saved.

    Raises:
      errors.NoModel: ``model_dir`` holds no finished training run.
    """
    if not tf.io.gfile.exists(paths.model_run(model_dir)):
        what = "does not exist" if not tf.io.gfile.exists(model_dir) else "holds no finished training run"
        raise errors.NoModel(f"the model directory {model_dir} {what}")
    with tf.io.gfile.GFile(paths.model_config(model_dir)) as f:
        return msrec_config.from_dict(msrec_config.Config, json.load(f))


def load(model_dir: str, data: DataDir | None = None) -> tuple[TwoTowerModel, msrec_config.Config, DataDir]:
    """Restores ``(model, config, data)``; ``data`` defaults to the directory it was trained on."""
    config = read_config(model_dir)
    data = data or DataDir.open(read_run(model_dir)["data_dir"])
    model = build(data, config)
    model.load_weights(paths.join(paths.checkpoints(model_dir), WEIGHTS)).expect_partial()
    if model.candidate_tower.text is not None:
        # this data directory's order, not the checkpoint's
        model.candidate_tower.text.reset_vectors(model.tables.text_vectors)
    return model, config, data


def served(
    model: TwoTowerModel, data: DataDir, new_items: str | None = None, block_items: str | None = None
) -> Served:
    """What an export of ``model`` serves, read from ``data``, the ``--new-items`` JSONL file and the
    ``--block-items`` file (one item id per line; blank lines and ``#`` comments ignored)."""
    encoder = None
    if model.candidate_tower.text is not None:
        from msrec.text import SentenceEncoder

        encoder = SentenceEncoder(text.checkpoint_dir(model.tables.text_encoder))
    items = text.read(new_items) if new_items else ()
    return Served(tables.read_users(data, model.tables), encoder, items, read_item_ids(block_items))


def read_item_ids(path: str | None) -> tuple[str, ...]:
    """The item ids of a list file, one per line (none without a path).

    Raises:
      errors.MissingInput: the file does not exist.
    """
    if not path:
        return ()
    if not tf.io.gfile.exists(path):
        raise errors.MissingInput(f"the item list {path} does not exist", path, "--block-items")
    with tf.io.gfile.GFile(path) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return tuple(line for line in lines if line)
