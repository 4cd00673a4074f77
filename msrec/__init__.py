"""msrec: multi-source recommendation on TensorFlow Recommenders, Beam and TF Serving.

Importing this package is the one place that selects Keras 2 (``tf_keras``) for
TensorFlow: TFRS 0.7.7 needs it, and the switch only works if it is set before
TensorFlow is first imported. ``preprocessing``, ``trainer`` and ``serving`` all
import ``msrec`` first, so every entry point goes through here.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
