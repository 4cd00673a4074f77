"""Artifact layout: where each stage writes and where the next one reads.

A preprocessed data directory::

    <data>/metadata.json        counts, split fingerprint, data config, feature contract
    <data>/_SUCCESS             written last; later stages refuse a directory without it
    <data>/vocab/<name>.txt     one value per line, most frequent first (TRAIN only)
    <data>/item_counts.txt      TRAIN popularity, aligned with vocab/item_id.txt
    <data>/{train,validation,test,candidates,users}/part-*.tfrecord.gz
    <data>/scoring_graph/part-*.jsonl   [item, [[source, weight], ...]] per line (EASE^R over TRAIN)
    <data>/scoring_graph_refit/part-*.jsonl   the same over TRAIN + VALIDATION, for a model refit on both
    <data>/item_text/part-*.tfrecord.gz  per catalog item: its text and its sentence vector
                                (features.text_records; absent when data.text_encoder is none)
    <data>/dead_letter/part-*.jsonl

A model directory::

    <model>/config.json  <model>/run.json  <model>/checkpoints/  <model>/logs/

Paths are joined with ``posixpath`` so that ``gs://`` prefixes survive.
"""

from __future__ import annotations

import os
import posixpath

from msrec import errors

SUCCESS = "_SUCCESS"
METADATA = "metadata.json"
SPLITS = ("train", "validation", "test")
CANDIDATES, USERS, DEAD_LETTER = "candidates", "users", "dead_letter"
SCORING_GRAPH = "scoring_graph"
SCORING_GRAPH_REFIT = "scoring_graph_refit"
ITEM_TEXT = "item_text"
TFRECORD_SUFFIX = ".tfrecord.gz"


def join(*parts: str) -> str:
    return posixpath.join(*parts)


def absolute(path: str) -> str:
    """``path`` made absolute when it is local; a ``scheme://`` path unchanged.

    A Beam job's workers need not share the submitting process's working directory (a portable
    runner's SDK worker pool, a cluster's task managers), so a relative local path must not reach them.
    """
    if "://" in path:
        return path
    # abspath drops a trailing "/", which some callers read as "a directory" (batch-predict's --output)
    absolute_path = os.path.abspath(path)
    return absolute_path + "/" if path.endswith("/") and not absolute_path.endswith("/") else absolute_path


def vocab_file(data_dir: str, name: str) -> str:
    return join(data_dir, "vocab", f"{name}.txt")


def item_counts_file(data_dir: str) -> str:
    return join(data_dir, "item_counts.txt")


def records_prefix(data_dir: str, name: str) -> str:
    return join(data_dir, name, "part")


def records_glob(data_dir: str, name: str) -> str:
    return join(data_dir, name, f"part-*{TFRECORD_SUFFIX}")


def model_config(model_dir: str) -> str:
    return join(model_dir, "config.json")


def model_run(model_dir: str) -> str:
    return join(model_dir, "run.json")


def checkpoints(model_dir: str) -> str:
    return join(model_dir, "checkpoints")


def logs(model_dir: str) -> str:
    return join(model_dir, "logs")


def exists(path: str) -> bool:
    """Whether ``path`` exists; a local one is looked up without TensorFlow (the CLI checks first)."""
    if "://" not in path:
        return os.path.exists(path)
    import tensorflow as tf

    return tf.io.gfile.exists(path)


def require_complete(data_dir: str) -> None:
    """Raises ``MissingInput`` or ``UnfinishedInput`` unless a preprocessing run finished in ``data_dir``."""
    if not exists(data_dir):
        raise errors.MissingInput(f"data directory {data_dir} does not exist", data_dir, "--data")
    if not exists(join(data_dir, SUCCESS)):
        message = f"{data_dir} is not a finished preprocessing output (no {SUCCESS})"
        raise errors.UnfinishedInput(message, data_dir, "--data")
