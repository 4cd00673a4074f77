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
  query features (as preprocessing writes them) -> top-K, for batch jobs.

Only core TF ops are used (lookup tables, matmul, gather/scatter, top_k), and vocabularies are
SavedModel assets, so stock ``tensorflow_model_server`` loads the directory as is.
``assets.extra/tf_serving_warmup_requests`` holds real requests; the version is
written under a temporary name, passes ``trainer.compat`` in a fresh process
(TF1 session loader, stock ops, assets, warm-up replay), and only then is renamed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import paths
from trainer import blessing, data, evaluate, scoring
from trainer.warmup import warmup_logs, write_warmup

SIGNATURES = (
    "serving_default",
    "recommend_excluding",
    "recommend_user",
    "recommend_user_with_recent",
    "query_embedding",
    "candidate_embedding",
    "predict_examples",
)
ITEM_IDS, SCORES, EMBEDDING = "item_ids", "scores", "embedding"
EXAMPLES, EXAMPLES_SIGNATURE = "examples", "predict_examples"
EXCLUDE_ITEM_IDS, RECENT_ITEM_IDS = "exclude_item_ids", "recent_item_ids"  # request-only inputs


def prepend(
    recent: tf.Tensor, stored: tf.Tensor, recent_n: tf.Tensor, stored_n: tf.Tensor, length: int, pad: Any
) -> tf.Tensor:
    """``[B, L]`` rows made of each row's first ``recent_n`` then first ``stored_n`` values, re-padded."""
    merged = tf.concat(
        [
            tf.RaggedTensor.from_tensor(recent, lengths=recent_n),
            tf.RaggedTensor.from_tensor(stored, lengths=stored_n),
        ],
        axis=1,
    )
    return merged[:, :length].to_tensor(default_value=pad, shape=[None, length])


class UserTable(tf.Module):
    """Each known user's latest query features; row 0 (empty) answers unknown users."""

    def __init__(self, users: dict[str, np.ndarray], features: tuple[F.Feature, ...]):
        super().__init__()
        keys = tf.constant(users[F.USER_ID])
        rows = tf.range(1, len(keys) + 1, dtype=tf.int64)
        self.rows = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, rows), 0)
        self.columns = {}
        for f in features:
            if f.name != F.USER_ID:
                pad = f.pad_value.encode() if f.dtype == F.STRING else f.pad_value
                empty = np.full((1, f.length), pad, dtype=users[f.name].dtype)
                self.columns[f.name] = tf.Variable(np.concatenate([empty, users[f.name]]), trainable=False)

    def __call__(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        rows = self.rows.lookup(user_ids)
        out = {name: tf.gather(column, rows) for name, column in self.columns.items()}
        out[F.USER_ID] = user_ids
        return out


class ServingModule(tf.Module):
    """The exported module: towers, the catalog scorer (brute force over every item) and the user table."""

    def __init__(self, model: tf.keras.Model, data_dir: str, k: int):
        super().__init__()
        contract = data.contract(data_dir)
        self.query_features = F.select(contract, F.QUERY)
        self.candidate_features = F.select(contract, F.CANDIDATE)
        self.query_tower, self.candidate_tower = model.query_tower, model.candidate_tower
        item_ids, self.scorer = scoring.for_model(model, data_dir)
        self.k = min(k, len(item_ids))
        history = F.by_name(contract)[F.HISTORY_ITEM_IDS].length
        # Over-fetch by the history length so excluding known items still leaves k (model and popularity).
        self.fetch = min(self.k + history, len(item_ids))
        self.users = UserTable(data.load_all(data_dir, paths.USERS, self.query_features), self.query_features)
        self.history_length = history
        counts = data.item_popularity(data_dir)
        shares = np.array([counts.get(i, 0) for i in item_ids], np.float32) / max(sum(counts.values()), 1)
        top = np.argsort(-shares, kind="stable")[: self.fetch]
        self.popular_ids = tf.constant(np.array(item_ids, dtype=object)[top])
        self.popular_scores = tf.constant(shares[top])
        # A model that reads the history neither in its query tower nor in its scorer cannot
        # know a user from recent items alone.
        self.reads_history = model.query_tower.sequence is not None or self.scorer.reads_history

    def popular_or(
        self, known: tf.Tensor, result: dict[str, tf.Tensor], exclude: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """``result`` where ``known``, else the TRAIN-popularity top-K without ``exclude`` (cold start)."""
        rows = tf.shape(known)[0]
        ids = tf.tile(self.popular_ids[tf.newaxis], [rows, 1])
        fallback = self.without(ids, tf.tile(self.popular_scores[tf.newaxis], [rows, 1]), exclude)
        return {key: tf.where(known[:, tf.newaxis], result[key], fallback[key]) for key in result}

    def without(self, ids: tf.Tensor, scores: tf.Tensor, exclude: tf.Tensor) -> dict[str, tf.Tensor]:
        """The best k of ``ids`` (ranked by ``scores``) that are not in ``exclude``."""
        hit = tf.reduce_any(tf.equal(ids[:, :, tf.newaxis], exclude[:, tf.newaxis, :]), axis=-1)
        scores, order = tf.math.top_k(tf.where(hit, tf.fill(tf.shape(scores), -np.inf), scores), k=self.k)
        return {ITEM_IDS: tf.gather(ids, order, batch_dims=1), SCORES: scores}

    def with_recent(self, user_ids: tf.Tensor, recent: tf.Tensor) -> dict[str, tf.Tensor]:
        """The user's stored features with ``recent`` item ids put in front of the history."""
        query = self.users(user_ids)
        recent_n = tf.reduce_sum(tf.cast(tf.not_equal(recent, F.PAD), tf.int32), axis=1)
        stored_n = tf.reduce_sum(tf.cast(tf.not_equal(query[F.HISTORY_ITEM_IDS], F.PAD), tf.int32), axis=1)
        fills = {
            F.HISTORY_ITEM_IDS: recent,
            F.HISTORY_TIME_GAPS: tf.zeros_like(recent, tf.float32),
            F.HISTORY_WEIGHTS: tf.ones_like(recent, tf.float32),
        }
        for name, fill in fills.items():
            pad = F.PAD if name == F.HISTORY_ITEM_IDS else 0.0
            query[name] = prepend(fill, query[name], recent_n, stored_n, self.history_length, pad)
        return query

    def top_k(self, query: dict[str, tf.Tensor], exclude: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        scores = self.scorer(self.query_tower(query, training=False), query[F.HISTORY_ITEM_IDS])
        scores, top = tf.math.top_k(scores, k=self.fetch)
        ids = tf.gather(self.scorer.item_ids, top)
        if exclude is not None:
            return self.without(ids, scores, exclude)
        return {ITEM_IDS: ids[:, : self.k], SCORES: scores[:, : self.k]}

    def signatures(self) -> dict[str, Any]:
        query_spec = F.tensor_specs(self.query_features)
        candidate_spec = F.tensor_specs(self.candidate_features)
        user_spec = {F.USER_ID: query_spec[F.USER_ID]}
        list_spec = tf.TensorSpec([None, self.history_length], tf.string)
        exclude_spec = {**query_spec, EXCLUDE_ITEM_IDS: tf.TensorSpec.from_spec(list_spec, EXCLUDE_ITEM_IDS)}
        recent_spec = {**user_spec, RECENT_ITEM_IDS: tf.TensorSpec.from_spec(list_spec, RECENT_ITEM_IDS)}

        def recommend(**inputs):
            query = self.users(inputs[F.USER_ID])
            known = self.users.rows.lookup(inputs[F.USER_ID]) > 0
            seen = query[F.HISTORY_ITEM_IDS]
            return self.popular_or(known, self.top_k(query, exclude=seen), exclude=seen)

        def recommend_with_recent(**inputs):
            query = self.with_recent(inputs[F.USER_ID], inputs[RECENT_ITEM_IDS])
            seen = query[F.HISTORY_ITEM_IDS]
            known = self.users.rows.lookup(inputs[F.USER_ID]) > 0
            if self.reads_history:
                known = tf.logical_or(known, tf.reduce_any(tf.not_equal(seen, F.PAD), axis=1))
            return self.popular_or(known, self.top_k(query, exclude=seen), exclude=seen)

        def from_examples(examples):
            parsed = tf.io.parse_example(examples, F.parse_spec(self.query_features))
            return self.top_k(F.densify(parsed, self.query_features))

        def excluding(**inputs):
            exclude = inputs.pop(EXCLUDE_ITEM_IDS)
            return self.top_k(inputs, exclude=exclude)

        return {
            "serving_default": tf.function(lambda **q: self.top_k(q)).get_concrete_function(**query_spec),
            "recommend_excluding": tf.function(excluding).get_concrete_function(**exclude_spec),
            "recommend_user": tf.function(recommend).get_concrete_function(**user_spec),
            "recommend_user_with_recent": tf.function(recommend_with_recent).get_concrete_function(
                **recent_spec
            ),
            "query_embedding": tf.function(
                lambda **q: {EMBEDDING: self.query_tower(q, training=False)}
            ).get_concrete_function(**query_spec),
            "candidate_embedding": tf.function(
                lambda **c: {EMBEDDING: self.candidate_tower(c, training=False)}
            ).get_concrete_function(**candidate_spec),
            EXAMPLES_SIGNATURE: tf.function(from_examples).get_concrete_function(
                tf.TensorSpec([None], tf.string, EXAMPLES)
            ),
        }


class IncompatibleExport(RuntimeError):
    """The export would not load or answer correctly in TF Serving."""


def gate(version_dir: str) -> dict[str, Any]:
    """Runs ``trainer.compat`` on ``version_dir`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "trainer.compat", version_dir], capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"ok": False, "error": done.stderr[-2000:]}
    if done.returncode != 0 or not report.get("ok"):
        raise IncompatibleExport(f"{version_dir} failed the TF Serving compatibility gate: {report}")
    return report


def next_version(export_base: str) -> int:
    """``int(time.time())``, bumped past any existing version."""
    existing = (
        [int(n.rstrip("/")) for n in tf.io.gfile.listdir(export_base) if n.rstrip("/").isdigit()]
        if tf.io.gfile.exists(export_base)
        else []
    )
    return max([int(time.time())] + [v + 1 for v in existing])


def export(
    model: tf.keras.Model,
    data_dir: str,
    export_base: str,
    k: int,
    card: dict[str, Any] | None = None,
    tolerance: float | None = None,
) -> str:
    """Writes ``<export_base>/<version>/`` atomically; returns its path.

    Args:
      tolerance: when set, bless first (``trainer.blessing``): an unblessed version
        goes to ``<export_base>/rejected/`` and ``blessing.NotBlessed`` is raised.
    """
    module = ServingModule(model, data_dir, k)
    version = next_version(export_base)
    final = paths.join(export_base, str(version))
    staging = paths.join(export_base, f".tmp-{version}")  # not an integer: servers ignore it
    tf.io.gfile.makedirs(export_base)
    signatures = module.signatures()
    tf.saved_model.save(module, staging, signatures=signatures)
    write_warmup(staging, warmup_logs(module, signatures))
    report = gate(staging)
    card = {"version": version, "top_k": module.k, "compatibility": report, **(card or {})}
    if tolerance is not None:
        result = evaluate.evaluate(model, data_dir, "validation")
        current = blessing.published(export_base)
        card["validation"], card["validation_most_popular"] = result["model"], result["popularity"]
        card["blessing"] = blessing.judge(
            result["model"],
            result["popularity"],
            current[1].get("validation") if current else None,
            tolerance,
        )
    with tf.io.gfile.GFile(paths.join(staging, "assets.extra", "model_card.json"), "w") as f:
        json.dump(card, f, indent=2, sort_keys=True)
    if tolerance is not None and not card["blessing"]["blessed"]:
        blessing.reject(staging, export_base, version)
        raise blessing.NotBlessed(card["blessing"])
    tf.io.gfile.rename(staging, final)
    return final
