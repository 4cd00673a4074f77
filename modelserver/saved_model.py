"""TF Serving's names for a SavedModel version directory: its tag, default signature, warm-up file.

The leaf of the stand-in that the server, the gate and the client read. These are TF Serving's own
constants, taken from ``tf.saved_model`` where TensorFlow exports them, so whatever exporter wrote a
model that ``tensorflow_model_server`` loads, this package reads it under the same names.
"""

from __future__ import annotations

import posixpath

import tensorflow as tf

SERVE_TAG = tf.saved_model.SERVING  # "serve"
DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # "serving_default"
# tensorflow/python/saved_model/constants.py EXTRA_ASSETS_DIRECTORY, which tf.saved_model does not export.
ASSETS_EXTRA = "assets.extra"
# TF Serving's WarmupConsts::kRequestsFileName (servables/tensorflow/saved_model_warmup_util.h).
WARMUP_FILE = posixpath.join(ASSETS_EXTRA, "tf_serving_warmup_requests")


def warmup_file(version_dir: str) -> str:
    """The warm-up requests file of the version in ``version_dir`` (present or not)."""
    return posixpath.join(version_dir, WARMUP_FILE)
