"""What a command reads must be there: checked before TensorFlow loads, so a wrong path costs a second.

``before(args)`` runs the parsed command's checks; each raises an ``msrec.errors`` type, which
``msrec/app/errors.py`` words for people. Only local paths are checked here (``os``, no
TensorFlow, so nothing prints before ``quiet.start_tensorflow``); remote ones (``gs://``), and what
is only found out while running (the data directory a model's ``run.json`` names), the stages
check with the same types.
"""

from __future__ import annotations

import argparse
import os
from typing import Callable

from msrec import errors, paths
from msrec.app import server_commands

SAVED_MODEL = "saved_model.pb"  # what makes a directory a SavedModel (tf.saved_model's file name)


def _local(path: str | None) -> bool:
    return bool(path) and "://" not in path


def data_dir(path: str | None) -> None:
    """A ``--data`` directory, when given, is a finished preprocessing output."""
    if _local(path):
        paths.require_complete(path)


def model_dir(path: str | None) -> None:
    """A ``--model-dir`` holds what ``msrec train`` saves last (``config.json``, ``run.json``)."""
    if not _local(path):
        return
    if not paths.exists(path):
        raise errors.NoModel(f"model directory {path} does not exist", path, "--model-dir")
    missing = [f for f in (paths.model_config(path), paths.model_run(path)) if not paths.exists(f)]
    if missing:
        names = " or ".join(os.path.basename(f) for f in missing)
        raise errors.NoModel(f"{path} holds no trained model (no {names})", path, "--model-dir")


def export_version(path: str | None, flag: str = "--export") -> None:
    """An exported version directory ``DIR/<version>/`` holds a SavedModel."""
    if not _local(path) or paths.exists(paths.join(path, SAVED_MODEL)):
        return
    if not paths.exists(path):
        raise errors.NoModel(f"{path} does not exist", path, flag)
    message = f"{path} is not an exported version (no {SAVED_MODEL})"
    versions = [int(n) for n in _names(path) if n.isdigit()]
    if versions:
        message += (
            f"; it is a model base: pass one of its versions, e.g. {paths.join(path, str(max(versions)))}"
        )
    raise errors.NoModel(message, path, flag)


def export_base(path: str | None, flag: str = "--model") -> None:
    """A SavedModel version, or a model base: it must at least exist (the job picks the version)."""
    if _local(path) and not paths.exists(path):
        raise errors.NoModel(f"{path} does not exist", path, flag)


def input_file(path: str | None, flag: str) -> None:
    if _local(path) and not paths.exists(path):
        raise errors.MissingInput(f"{path} does not exist", path, flag)


def _names(path: str) -> list[str]:
    return os.listdir(path) if os.path.isdir(path) else []


def _train(args: argparse.Namespace) -> None:
    data_dir(args.data)
    input_file(args.config, "--config")


def _evaluate(args: argparse.Namespace) -> None:
    if not (args.model_dir or args.export):
        raise errors.BadFlag("evaluate needs --model-dir (a trained model), --export (a version), or both")
    model_dir(args.model_dir)
    export_version(args.export)
    data_dir(args.data)


def _export(args: argparse.Namespace) -> None:
    model_dir(args.model_dir)
    data_dir(args.data)
    input_file(args.new_items, "--new-items")


def _tune(args: argparse.Namespace) -> None:
    data_dir(args.data)
    input_file(args.config, "--config")


def _preprocess(args: argparse.Namespace) -> None:  # --config: a source config or a preset's name
    input_file(args.data_config, "--data-config")
    input_file(args.input, "--input")


def _serve(args: argparse.Namespace) -> None:
    config = server_commands.parse(args.server_argv)  # the server's own flags: --help ends here
    input_file(config.model_base_path, "--model_base_path")
    input_file(config.model_config_file, "--model_config_file")


def _experiment(args: argparse.Namespace) -> None:
    input_file(args.input, "--input")
    input_file(args.config, "--config")


CHECKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "train": _train,
    "evaluate": _evaluate,
    "export": _export,
    "tune": _tune,
    "preprocess": _preprocess,
    "benchmark": _experiment,
    "ablation": _experiment,
    "batch-predict": lambda args: export_base(args.model),
    "serve": _serve,
}


def before(args: argparse.Namespace) -> None:
    """Raises the first ``msrec.errors`` failure the command's flags already show."""
    check = CHECKS.get(args.command)
    if check:
        check(args)
