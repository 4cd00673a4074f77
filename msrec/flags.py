"""The flags of the stage jobs the ``msrec`` CLI also offers, defined once and without TensorFlow.

``python -m trainer.task`` and ``msrec train`` parse the training job's flags (``training``);
``serving.batch_inference`` and ``msrec batch-predict`` the batch job's (``batch_prediction``). Each
pair builds its parser from here, so the two spellings of a job cannot drift apart, and
``msrec <command> --help`` answers without importing TensorFlow or Beam. ``config`` turns
``--config``/``--set`` into the typed config, with ``msrec.errors`` for what cannot be read.
Only entry points call these: flags are read there and nowhere else (STYLE.md).
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from msrec import config as msrec_config
from msrec import errors

# The batch job's request and prediction formats, as its --input-format and --output-format name them.
USERS, EXAMPLES = "users", "examples"
INPUT_FORMATS = (USERS, EXAMPLES)
JSONL, TFRECORD = "jsonl", "tfrecord"
OUTPUT_FORMATS = (JSONL, TFRECORD)
MODEL_DIR_ENV = "AIP_MODEL_DIR"  # Vertex AI's training jobs name the model directory here


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type``: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return value


def add_config(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` and repeatable ``--set KEY=VALUE``, read by ``config``."""
    p.add_argument("--config", help="JSON/YAML config file; missing keys keep the shipped defaults")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set model.embedding_dim=32 (repeatable)",
    )


def config(path: str | None, assignments: Sequence[str] = ()) -> msrec_config.Config:
    """The config of a ``--config`` file (or the defaults) with ``--set`` assignments applied.

    Raises:
      errors.MissingInput: the file does not exist.
      errors.BadConfig: it is not JSON/YAML, or a key or value (of the file or of a ``--set``) is wrong.
    """
    import yaml

    if path and "://" not in path and not os.path.isfile(path):
        raise errors.MissingInput(f"config file {path} does not exist", path, "--config")
    try:
        base = msrec_config.load(path)
    except (ValueError, TypeError, AttributeError, yaml.YAMLError) as err:
        raise errors.BadConfig(f"config file {path} cannot be used: {_one_line(err)}", path) from err
    try:
        return msrec_config.override(base, assignments)
    except (ValueError, TypeError) as err:
        message = _one_line(err)
        if "--set" not in message:  # a value the config rejects: name the assignment that carried it
            culprit = next((a for a in assignments if not _applies(base, a)), None)
            message = f"--set {culprit}: {message}" if culprit else message
        raise errors.BadConfig(message) from err


def _applies(config: msrec_config.Config, assignment: str) -> bool:
    try:
        msrec_config.override(config, [assignment])
    except (ValueError, TypeError):
        return False
    return True


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def training(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds the training job's flags to ``p`` (``--model-dir`` may come from ``$AIP_MODEL_DIR``)."""
    p.add_argument("--data", required=True, help="preprocessed data directory (msrec preprocess --output)")
    p.add_argument(
        "--model-dir",
        default=os.environ.get(MODEL_DIR_ENV),
        required=not os.environ.get(MODEL_DIR_ENV),
        help=f"where the model is written (default: ${MODEL_DIR_ENV})",
    )
    add_config(p)
    p.add_argument("--epochs", type=positive_int, help="shorthand for --set train.epochs=N")
    return p


def training_config(args: argparse.Namespace) -> msrec_config.Config:
    """The config the training flags ``args`` ask for."""
    return config(args.config, list(args.set) + ([f"train.epochs={args.epochs}"] if args.epochs else []))


def batch_prediction(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds the batch job's own flags to ``p``; flags it does not know are Beam pipeline options."""
    p.add_argument("--model", required=True, help="SavedModel version dir, or a base (highest version)")
    p.add_argument("--input", required=True, help="file or glob of user ids (one a line) or TFRecords")
    p.add_argument("--output", required=True, help="output prefix in a fresh directory (or DIR/)")
    p.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default=USERS,
        help="users -> signature recommend_user; examples -> serving_default (default users)",
    )
    p.add_argument("--output-format", choices=OUTPUT_FORMATS, default=JSONL, help="default jsonl")
    p.add_argument("--k", type=positive_int, help="items per row, at most the exported top-K (default: all)")
    p.add_argument("--num-shards", type=positive_int, default=1, help="output shards (default 1)")
    p.add_argument("--min-batch-size", type=positive_int, help="RunInference's smallest batch")
    p.add_argument("--max-batch-size", type=positive_int, help="RunInference's largest batch")
    p.add_argument(
        "--max-bad-fraction",
        type=fraction,
        default=1.0,
        help="fail (and write no _SUCCESS) above this dead-letter fraction (default 1.0: never)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's files")
    return p
