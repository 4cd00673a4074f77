"""The serving contract: signature names, their request-only inputs and outputs, and export paths.

Like ``features.py`` for feature names, this module is the one place that spells
them: ``trainer/export.py`` builds the signatures under these names, and the
batch-inference job, the CLI and the tests read them from here. The TF Serving
stand-in (``modelserver/``) imports nothing of msrec: it spells TF Serving's own
names (``serving_default``, ``serve``, the warm-up file) in
``modelserver/saved_model.py``, and ``tests/serving/test_modelserver_names.py``
checks that the two agree. Version directories (``<base>/<integer>/``) are listed
here too, so the exporter, the blessing and the batch job agree on what a version is.
"""

from __future__ import annotations

import posixpath

import tensorflow as tf

# Signatures. DEFAULT is TF Serving's default key ("serving_default").
DEFAULT = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
RECOMMEND_EXCLUDING = "recommend_excluding"
RECOMMEND_USER = "recommend_user"
RECOMMEND_USER_WITH_RECENT = "recommend_user_with_recent"
QUERY_EMBEDDING = "query_embedding"
CANDIDATE_EMBEDDING = "candidate_embedding"
PREDICT_EXAMPLES = "predict_examples"
TEXT_EMBEDDING = "text_embedding"  # only in exports of models that read item text
RECOMMEND_FILTERED = "recommend_filtered"
RECOMMEND_USER_FILTERED = "recommend_user_filtered"
RECOMMEND_USER_EXPLAINED = "recommend_user_explained"
ALL = (
    DEFAULT,
    RECOMMEND_EXCLUDING,
    RECOMMEND_USER,
    RECOMMEND_USER_WITH_RECENT,
    QUERY_EMBEDDING,
    CANDIDATE_EMBEDDING,
    PREDICT_EXAMPLES,
    RECOMMEND_FILTERED,
    RECOMMEND_USER_FILTERED,
    RECOMMEND_USER_EXPLAINED,
)
# The signatures that answer a top-K list.
TOP_K = (
    DEFAULT,
    RECOMMEND_EXCLUDING,
    RECOMMEND_USER,
    RECOMMEND_USER_WITH_RECENT,
    PREDICT_EXAMPLES,
    RECOMMEND_FILTERED,
    RECOMMEND_USER_FILTERED,
    RECOMMEND_USER_EXPLAINED,
)

# Request-only inputs (the query features themselves come from features.py).
EXCLUDE_ITEM_IDS = "exclude_item_ids"
RECENT_ITEM_IDS = "recent_item_ids"
EXAMPLES = "examples"
TEXT = "text"  # text_embedding's input; candidate_embedding's raw text is features.ITEM_TEXT
# The filters of the *_filtered signatures: [B, any width] strings, padded with "" (all "": no rule).
INCLUDE_ITEM_IDS = "include_item_ids"
INCLUDE_ATTRIBUTES, EXCLUDE_ATTRIBUTES = "include_attributes", "exclude_attributes"
FILTERS = (INCLUDE_ITEM_IDS, EXCLUDE_ITEM_IDS, INCLUDE_ATTRIBUTES, EXCLUDE_ATTRIBUTES)
ATTRIBUTE_SEPARATOR = ":"

# Output aliases.
ITEM_IDS, SCORES, EMBEDDING = "item_ids", "scores", "embedding"
# recommend_user_explained's outputs besides item_ids and scores: per returned item, the history
# items that contributed most ([B, K, R]) and the friend who has it or would like it most ([B, K]).
REASON_ITEM_IDS, REASON_SCORES, REASON_EVIDENCE = "reason_item_ids", "reason_scores", "reason_evidence"
REASON_FRIEND_IDS, REASON_FRIEND_SCORES = "reason_friend_ids", "reason_friend_scores"
REASON_FRIEND_HAS_ITEM = "reason_friend_has_item"


def item_attribute(vocabulary: str, value: str) -> str:
    """How a filter names a categorical item attribute: ``category:Drama``, ``tag:rock``."""
    return f"{vocabulary}{ATTRIBUTE_SEPARATOR}{value}"


# The SavedModel on disk: TF Serving's tag, its files and what rides along in assets.extra/.
SERVE_TAG = tf.saved_model.SERVING
ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = posixpath.join(ASSETS_EXTRA, "tf_serving_warmup_requests")
MODEL_CARD = posixpath.join(ASSETS_EXTRA, "model_card.json")


def model_card(version_dir: str) -> str:
    return posixpath.join(version_dir, MODEL_CARD)


def warmup_file(version_dir: str) -> str:
    return posixpath.join(version_dir, WARMUP_FILE)


def versions(base: str, complete_only: bool = True) -> list[int]:
    """The integer version directories under ``base``, ascending.

    Args:
      base: a model base path (local or ``gs://``); a missing one has no versions.
      complete_only: keep only directories that hold a SavedModel.
    """
    if not tf.io.gfile.isdir(base):
        return []
    found = []
    for name in tf.io.gfile.listdir(base):
        name = name.rstrip("/")
        if name.isdigit() and (
            not complete_only or tf.saved_model.contains_saved_model(posixpath.join(base, name))
        ):
            found.append(int(name))
    return sorted(found)


def version_dir(base: str, version: int) -> str:
    return posixpath.join(base, str(version))
