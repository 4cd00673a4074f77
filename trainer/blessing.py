"""Blessing: whether a freshly exported version may replace the published one.

A candidate is blessed when its VALIDATION NDCG@10 beats MostPopular's and is
not worse than the currently published version's by more than ``tolerance``
(relative). The published version's figures come from its ``model_card.json``.
An unblessed version is moved to ``<base>/rejected/<version>``, a folder TF
Serving ignores because its name is not an integer.
"""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf

from msrec import paths
from msrec import signatures as S

METRIC = "NDCG@10"


class NotBlessed(RuntimeError):
    """The candidate lost; ``comparison`` says against what."""

    def __init__(self, comparison: dict[str, Any]):
        super().__init__(f"version not published: {json.dumps(comparison)}")
        self.comparison = comparison


def published(export_base: str) -> tuple[int, dict[str, Any]] | None:
    """The highest published version and its model card, if any."""
    for version in reversed(S.versions(export_base)):
        card = S.model_card(S.version_dir(export_base, version))
        if tf.io.gfile.exists(card):
            with tf.io.gfile.GFile(card) as f:
                return version, json.load(f)
    return None


def judge(
    candidate: dict[str, Any], baseline: dict[str, Any], current: dict[str, Any] | None, tolerance: float
) -> dict[str, Any]:
    """The comparison, with ``blessed`` True or False."""
    ours = candidate[METRIC]
    out = {
        "metric": f"validation {METRIC}",
        "candidate": ours,
        "most_popular": baseline[METRIC],
        "tolerance": tolerance,
    }
    reasons = []
    if ours <= baseline[METRIC]:
        reasons.append("does not beat MostPopular")
    if current is not None:
        out["published"] = current[METRIC]
        if ours < current[METRIC] * (1 - tolerance):
            reasons.append("worse than the published version beyond the tolerance")
    out["blessed"], out["reasons"] = not reasons, reasons
    return out


def reject(staging: str, export_base: str, version: int) -> str:
    target = paths.join(export_base, "rejected", str(version))
    tf.io.gfile.makedirs(paths.join(export_base, "rejected"))
    tf.io.gfile.rename(staging, target)
    return target
