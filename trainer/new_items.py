"""Items nobody has seen yet, added to an export's servable catalogue without retraining.

``msrec export --new-items FILE`` reads one JSON object per line (``item_id``, and any of
``title``, ``categories``, ``tags``, ``description``), embeds each item's text with the
model's sentence encoder (the same fields and joining as preprocessing), builds its
candidate features (its id is unknown to the model, so the tower leans on the text vector,
categories and tags) and returns the candidate vectors the scorer appends to the catalog.
``recommend_user`` can return such an item at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F


def checkpoint_dir(encoder: str) -> str | None:
    """The checkpoint directory of a ``data.text_encoder`` setting (None: the bundled model)."""
    return None if encoder in ("", "bundled") else encoder


def read(path: str) -> list[dict[str, Any]]:
    """The JSONL file's items; an item without an ``item_id`` is an error naming its line."""
    items = []
    with tf.io.gfile.GFile(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            if not str(item.get("item_id", "")).strip():
                raise ValueError(f"{path}:{number}: a new item needs an item_id")
            items.append(item)
    return items


def candidate_features(
    items: Sequence[dict[str, Any]], contract: tuple[F.Feature, ...]
) -> dict[str, np.ndarray]:
    """The candidate tower's inputs for ``items`` (no co-occurrence neighbours: nobody has met them)."""
    given = {
        F.ITEM_ID: lambda it: str(it["item_id"]),
        F.ITEM_CATEGORIES: lambda it: list(it.get("categories") or []),
        F.ITEM_TAGS: lambda it: list(it.get("tags") or []),
        F.ITEM_TITLE_TOKENS: lambda it: list(F.words(it.get("title") or "")),
    }
    out = {}
    for f in F.select(contract, F.CANDIDATE):
        values = [given[f.name](it) if f.name in given else [] for it in items]
        if f.kind == F.SCALAR:
            out[f.name] = np.array(values, dtype=object)
        else:
            dtype = object if f.dtype == F.STRING else np.float32
            out[f.name] = np.array([F.pad(v, f) for v in values], dtype=dtype).reshape(len(items), f.length)
    return out


def vectors(
    tower: tf.keras.Model,
    items: Sequence[dict[str, Any]],
    contract: tuple[F.Feature, ...],
    encoder: Any,
    fields: Sequence[str] = F.TEXT_FIELDS,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Candidate vectors of ``items`` and, with a sentence encoder, their text vectors (else None)."""
    inputs = {k: tf.constant(v) for k, v in candidate_features(items, contract).items()}
    text = None
    if encoder is not None:
        text = np.asarray(encoder.embed([F.item_text(it, fields) for it in items]), np.float32)
        inputs[F.ITEM_TEXT_VECTOR] = tf.constant(text)
    return tower(inputs, training=False).numpy(), text
