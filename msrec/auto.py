"""Defaults that read the data: ``auto`` settings resolved from what a dataset is.

Preprocessing knows whether the interactions carry time (the source config declares a
``timestamp`` field) and records in ``metadata.json`` which sources the data has; the
settings left at ``auto`` are resolved from those facts, each with its reason, and the
resolved values are what gets saved with the artifact (so a model directory never holds
``auto``). A user's explicit setting is never changed.

* ``data.history_mode``: ``prefix`` for timed data; ``others`` without time, where the
  order of a user's items is a hash (PROTOCOL.md) and a prefix is a random subset.
* ``data.cooccurrence_window``: 5 positions for timed data; without time, the whole stored
  history (a window over a hash order counts a random fraction of co-occurrences).
* ``model.sources``: every part whose source the data has; ``sequence`` only with time,
  ``text`` only when preprocessing embedded the items' text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from msrec import features as F
from msrec.config import SOURCES, Config, DataConfig, ModelConfig, from_dict

AUTO = "auto"
TIMED_WINDOW = 5


def resolve_data(data: DataConfig, timed: bool) -> tuple[DataConfig, dict[str, str]]:
    """``data`` with its ``auto`` settings chosen for timed or untimed interactions, and why."""
    changes, reasons = {}, {}
    if data.history_mode == AUTO:
        changes["history_mode"] = "prefix" if timed else "others"
        reasons["data.history_mode"] = (
            "prefix: interactions are timed"
            if timed
            else "others: no timestamps, so the items before a target are a hash-ordered random subset"
        )
    if data.cooccurrence_window == 0:
        window = TIMED_WINDOW if timed else max(data.lengths.history, 50)
        changes["cooccurrence_window"] = window
        reasons["data.cooccurrence_window"] = (
            f"{window}: neighbours in time" if timed else f"{window}: the whole stored history (no order)"
        )
    return dataclasses.replace(data, **changes), reasons


def present_sources(metadata: Mapping[str, Any]) -> dict[str, bool]:
    """Which model parts the preprocessed data can feed (``metadata.json``)."""
    sizes = metadata.get("vocabulary_sizes", {})
    profile = metadata.get("data_profile", {})
    content = any(sizes.get(v, 0) for v in (F.CATEGORY_VOCAB, F.TAG_VOCAB, F.TOKEN_VOCAB))
    return {
        "id": True,
        "sequence": bool(profile.get("timed", True)),
        "content": content,
        "profile": sizes.get(F.ATTRIBUTE_VOCAB, 0) > 0,
        "social": bool(profile.get("social", True)),
        "item_graph": True,
        "text": metadata.get("text_embedding", {}).get("items", 0) > 0,
    }


def resolve_model(model: ModelConfig, metadata: Mapping[str, Any]) -> tuple[ModelConfig, dict[str, str]]:
    """``model`` with ``sources: [auto]`` replaced by the parts the data has, and why."""
    if tuple(model.sources) != (AUTO,):
        return model, {}
    present = present_sources(metadata)
    sources = tuple(s for s in SOURCES if present[s])
    missing = [s for s in SOURCES if not present[s]]
    reason = f"{', '.join(sources)}" + (f"; off for lack of data: {', '.join(missing)}" if missing else "")
    return dataclasses.replace(model, sources=sources), {"model.sources": reason}


def resolve(config: Config, metadata: Mapping[str, Any]) -> tuple[Config, dict[str, str]]:
    """The whole config resolved against a data directory's ``metadata.json``.

    The data section becomes the one the data was written with (already resolved by
    preprocessing), so a model's saved config says how its data was shaped.
    """
    model, reasons = resolve_model(config.model, metadata)
    data = from_dict(DataConfig, metadata["data_config"]) if "data_config" in metadata else config.data
    reasons.update(metadata.get("data_profile", {}).get("resolved", {}))
    return dataclasses.replace(config, data=data, model=model), reasons
