"""Start-up noise: TensorFlow, absl, Beam and Python warnings are silent unless ``--verbose``.

A command prints what it did (its report, its metrics, progress); the libraries' start-up lines
(oneDNN, cuInit, "apitools not found", Keras ``get_config`` warnings on export) go nowhere by
default. Child processes (the export gate, Beam workers) inherit the environment variables.
"""

from __future__ import annotations

import logging
import os
import warnings

NOISY_LOGGERS = ("tensorflow", "absl", "apache_beam", "h5py", "matplotlib", "py.warnings")


def configure(verbose: bool) -> None:
    """Call before TensorFlow is first imported (the C++ log level is read then)."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # C++ INFO, WARNING and ERROR lines (cuInit on CPU)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:  # absl's handler prints its own warnings; TensorFlow installs it on import
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
