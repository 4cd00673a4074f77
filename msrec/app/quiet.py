"""Start-up noise: TensorFlow, absl, Beam and Python warnings are silent unless ``--verbose``.

A command prints what it did (its report, its metrics, progress); the libraries' start-up lines
(oneDNN, cuInit, "apitools not found", Keras ``get_config`` warnings on export) go nowhere by
default. Child processes (the export gate, Beam workers) inherit the environment variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Iterator

NOISY_LOGGERS = ("tensorflow", "absl", "apache_beam", "h5py", "matplotlib", "py.warnings")
OWN_LOGGERS = ("msrec", "preprocessing", "trainer", "serving", "synthetic", "modelserver")


_verbose = False


def configure(verbose: bool) -> None:
    """Call before TensorFlow is first imported (the C++ log level is read then)."""
    global _verbose
    _verbose = verbose
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # C++ INFO, WARNING and ERROR lines once logging is set up
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.filterwarnings("ignore")
    # Libraries log to the root logger (Beam's "apitools not found"): only errors pass; ours keep warnings.
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    logging.getLogger().setLevel(logging.ERROR)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:  # absl's handler prints its own warnings; TensorFlow installs it on import
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """Points file descriptor 2 (C++ stderr) at /dev/null meanwhile, unless ``--verbose``."""
    if _verbose:
        yield
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_tensorflow() -> None:
    """Imports TensorFlow and initialises its devices with the C++ stderr muted.

    TensorFlow 2.21 logs through absl before its log level applies ("oneDNN custom operations
    are on", "Could not find cuda drivers", cuInit errors), ignoring ``TF_CPP_MIN_LOG_LEVEL``;
    file descriptor 2 is pointed at /dev/null for that moment only. Errors still raise.
    """
    with muted():
        import tensorflow as tf

        tf.config.list_physical_devices("CPU")
        tf.constant(0)  # creates the eager context: the last of the start-up lines
