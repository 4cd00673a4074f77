"""Export: the serving contract, defined once, as a versioned SavedModel for TF Serving.

Signatures (every input and output has batch dimension 0; names are stable):

* ``serving_default``: the query features of the contract -> ``item_ids`` and
  ``scores``, top-K over the whole catalog;
* ``recommend_excluding``: the same plus ``exclude_item_ids`` ``[B, L]`` (padded
  with ``""``), items the caller does not want back;
* ``recommend_user``: ``user_id`` -> top-K, the user's latest features looked up
  in tables inside the model, the user's known items excluded; an unknown user
  gets the TRAIN-popularity top-K (scores are popularity shares);
* ``recommend_user_with_recent``: ``user_id`` and ``recent_item_ids`` ``[B, L]``
  (most recent first, padded): events the tables do not know yet are put in front
  of the stored history (time gap 0, weight 1) and excluded too;
* ``query_embedding`` / ``candidate_embedding``: -> ``embedding``, for users who
  bring their own ANN index;
* ``predict_examples``: ``examples``, a batch of serialized tf.Example with the
  query features (as preprocessing writes them) -> top-K, for batch jobs;
* ``recommend_filtered`` / ``recommend_user_filtered``: ``serving_default`` /
  ``recommend_user`` with the four filters of ``trainer/filters.py`` (``[B, any]`` strings);
* ``recommend_user_explained``: ``recommend_user`` plus why (``trainer/explain.py``).

``ServingConfig`` chooses brute force or partitioned retrieval (``trainer/retrieval.py``) and
how the item vectors are stored (``trainer/quantize.py``); ``Served.blocked`` is the version's
block list. The model card records the choice (``retrieval``).

Only core TF ops are used (lookup tables, matmul, gather/scatter, top_k), and vocabularies are
SavedModel assets, so stock ``tensorflow_model_server`` loads the directory as is.
``assets.extra/tf_serving_warmup_requests`` holds real requests; the version is
written under a temporary name, passes the gate it is given (``modelserver.gate``, in a fresh process:
TF1 session loader, stock ops, assets, warm-up replay), and only then is renamed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable, Sequence

import tensorflow as tf

from msrec import paths
from msrec import signatures as S
from msrec.config import ServingConfig
from trainer import blessing, filters, retrieval, scoring
from trainer import new_items as text
from trainer.scoring import Ranking
from trainer.serving_module import ServingModule
from trainer.tables import UserRows
from trainer.warmup_requests import warmup_logs, write_warmup

Gate = Callable[[str], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Served:
    """What an export serves besides the trained model, read by the caller (``artifacts.served``):
    the export itself opens no input file.

    Attributes:
      users: every user's latest features and known items (``tables.read_users``).
      encoder: the model's sentence encoder (``msrec/text``) when it reads item text, else None.
      new_items: items the model has never seen, added to the catalogue (``trainer/new_items.py``).
      blocked: item ids no signature of this version returns (``msrec export --block-items``).
    """

    users: UserRows
    encoder: Any = None
    new_items: Sequence[dict[str, Any]] = ()
    blocked: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class Blessing:
    """Whether to publish: the candidate's VALIDATION metrics against the published version's.

    Attributes:
      validation: ``trainer.evaluate.evaluate`` of the model on VALIDATION (with MostPopular).
      tolerance: how much (relative) below the published version's NDCG@10 is still published.
    """

    validation: dict[str, Any]
    tolerance: float


def serving_module(
    model: tf.keras.Model, ranking: Ranking, serving: ServingConfig, served: Served
) -> ServingModule:
    """The module to export: the scorer over the catalog (plus new items) in the storage and with the
    retrieval ``serving`` asks for, users, item attributes for filters, the text encoder."""
    extra, tables_ = None, model.tables
    attributes = dict(
        zip(tables_.catalog_ids, filters.attribute_rows(tables_.catalog, tables_.contract), strict=True)
    )
    if served.new_items:
        items = served.new_items
        vectors, sentences = text.vectors(
            model.candidate_tower, items, tables_.contract, served.encoder, tables_.text_fields
        )
        features = text.candidate_features(items, tables_.contract)
        extra = ([str(it["item_id"]) for it in items], vectors, sentences, features)
        for item, row in zip(extra[0], filters.attribute_rows(features, tables_.contract), strict=True):
            attributes.setdefault(item, row)
    item_ids, scorer = scoring.for_model(model, ranking, extra, serving.embeddings)
    plan = retrieval.plan_of(scorer, len(tables_.catalog_ids), serving, served.blocked)
    return ServingModule(
        model,
        scorer,
        served.users,
        serving.top_k,
        serving.max_request_rows,
        served.encoder,
        plan,
        [attributes[item] for item in item_ids],
    )


def next_version(export_base: str) -> int:
    """``int(time.time())``, bumped past any existing version."""
    existing = S.versions(export_base, complete_only=False)
    return max([int(time.time())] + [v + 1 for v in existing])


def export(
    model: tf.keras.Model,
    ranking: Ranking,
    serving: ServingConfig,
    served: Served,
    export_base: str,
    card: dict[str, Any] | None = None,
    gate: Gate | None = None,
    bless: Blessing | None = None,
) -> str:
    """Writes ``<export_base>/<version>/`` atomically; returns its path.

    Args:
      ranking, serving: how the export ranks (the mix) and answers (top-K, request rows).
      served: the users, encoder and new items the export serves (``Served``).
      gate: checks the staged version as TF Serving would load it (``modelserver.gate.run``) and
        returns its report; raising refuses the version. None skips the check.
      bless: when set, an unblessed version goes to ``<export_base>/rejected/`` and
        ``blessing.NotBlessed`` is raised (``trainer.blessing``).
    """
    module = serving_module(model, ranking, serving, served)
    version = next_version(export_base)
    final = paths.join(export_base, str(version))
    staging = paths.join(export_base, f".tmp-{version}")  # not an integer: servers ignore it
    tf.io.gfile.makedirs(export_base)
    signatures = module.signatures()
    tf.saved_model.save(module, staging, signatures=signatures)
    write_warmup(staging, warmup_logs(module, signatures))
    report = gate(staging) if gate is not None else {"checked": False}
    card = {
        "version": version,
        "top_k": module.k,
        "retrieval": module.retriever.describe(),
        "compatibility": report,
        **(card or {}),
    }
    if bless is not None:
        current = blessing.published(export_base)
        model_metrics, popular = bless.validation["model"], bless.validation["popularity"]
        card["validation"], card["validation_most_popular"] = model_metrics, popular
        previous = current[1].get("validation") if current else None
        card["blessing"] = blessing.judge(model_metrics, popular, previous, bless.tolerance)
    with tf.io.gfile.GFile(S.model_card(staging), "w") as f:
        json.dump(card, f, indent=2, sort_keys=True)
    if bless is not None and not card["blessing"]["blessed"]:
        blessing.reject(staging, export_base, version)
        raise blessing.NotBlessed(card["blessing"])
    tf.io.gfile.rename(staging, final)
    return final
