"""The module a SavedModel exports: towers, the catalog scorer, the user table, and the signatures.

Every top-K signature ranks the whole catalog with ``trainer/scoring.py`` (the scorer
evaluation ranks with), so what is served is what is measured. The ones that know the
user (``recommend_user``, ``recommend_user_with_recent``) exclude **every** item the user
is known to have (TRAIN + VALIDATION, as ``msrec evaluate`` excludes them, however many),
read from a compact table: the items' catalog positions as one flat int32 tensor and an
int64 offset per user (4 bytes per interaction, 8 per user). ``recommend_excluding`` and
``recommend_user_with_recent`` also exclude the items the request names.

Each signature refuses a request of more than ``max_rows`` rows (an ``Assert``, a stock op:
TF Serving answers INVALID_ARGUMENT with the message), so no request can make the
``[rows, catalog]`` score matrix arbitrarily large. Only core TF ops are used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import signatures as S
from trainer import filters
from trainer.catalog import decode
from trainer.explain import Explainer
from trainer.retrieval import Plan, Retriever
from trainer.scoring import Scorer
from trainer.tables import Tables, UserRows


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
    """Each known user's latest query features and known items; row 0 (empty) answers unknown users."""

    def __init__(self, users: UserRows, features: tuple[F.Feature, ...]):
        super().__init__()
        keys = tf.constant(np.array(users.user_ids, dtype=object))
        rows = tf.range(1, len(users.user_ids) + 1, dtype=tf.int64)
        self.rows = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, rows), 0)
        self.columns = {}
        for f in features:
            if f.name != F.USER_ID:
                column = users.features[f.name]
                pad = f.pad_value.encode() if f.dtype == F.STRING else f.pad_value
                empty = np.full((1, f.length), pad, dtype=column.dtype)
                self.columns[f.name] = tf.Variable(np.concatenate([empty, column]), trainable=False)
        splits = np.concatenate([[0, 0], np.cumsum([len(p) for p in users.known_positions])])
        flat = np.concatenate(users.known_positions) if users.known_positions else np.zeros(0)
        self.known_splits = tf.Variable(splits.astype(np.int64), trainable=False)
        self.known_items = tf.Variable(flat.astype(np.int32), trainable=False)

    def __call__(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        rows = self.rows.lookup(user_ids)
        out = {name: tf.gather(column, rows) for name, column in self.columns.items()}
        out[F.USER_ID] = user_ids
        return out

    def known_pairs(self, user_ids: tf.Tensor) -> tf.Tensor:
        """``[M, 2]`` (row of the batch, catalog position) of every item each user is known to have."""
        rows = self.rows.lookup(user_ids)
        spans = tf.ragged.range(tf.gather(self.known_splits, rows), tf.gather(self.known_splits, rows + 1))
        items = tf.cast(tf.gather(self.known_items, spans.flat_values), tf.int64)
        return tf.stack([spans.value_rowids(), items], axis=1)


class ServingModule(tf.Module):
    """Towers, the catalog scorer, its retriever (brute force or partitions), the user table,
    TRAIN popularity, the items' attributes for filters and the explainer.

    Args:
      plan: partitions, probes and block list (``trainer/retrieval.Plan``; default: brute force).
      attributes: each catalog item's attribute strings (``filters.attribute_rows``), for filters.
    """

    def __init__(
        self,
        model: tf.keras.Model,
        scorer: Scorer,
        users: UserRows,
        k: int,
        max_rows: int,
        encoder: tf.Module | None = None,
        plan: Plan | None = None,
        attributes: list[list[str]] | None = None,
    ):
        super().__init__()
        self.encoder = encoder  # the sentence encoder (msrec/text), when the model reads item text
        tables: Tables = model.tables
        self.query_features = F.select(tables.contract, F.QUERY)
        self.candidate_features = F.select(tables.contract, F.CANDIDATE)
        self.query_tower, self.candidate_tower, self.scorer = model.query_tower, model.candidate_tower, scorer
        self.max_rows = int(max_rows)
        self.history_length = tables.history_length
        self.users = UserTable(users, self.query_features)
        counts = tables.item_counts  # items added at export (new items) have none
        shares = np.array([counts.get(i, 0) for i in decode(scorer.item_ids.numpy())], np.float64)
        self.retriever = Retriever(scorer, k, shares / max(shares.sum(), 1.0), plan or Plan())
        self.k, self.popularity = self.retriever.k, self.retriever.popularity
        self.attributes = filters.ItemAttributes(attributes or [[] for _ in range(scorer.size)])
        social = getattr(model.query_tower, "social", None) is not None
        self.explainer = Explainer(scorer, self.users, model.query_tower if social else None)
        # A model that reads the history neither in its query tower nor in its scorer cannot
        # know a user from recent items alone.
        self.reads_history = model.query_tower.sequence is not None or scorer.reads_history

    def check_rows(self, batch: tf.Tensor) -> None:
        rows = tf.shape(batch)[0]
        limit = f"a request may hold at most {self.max_rows} rows (model.max_request_rows); this one has"
        tf.debugging.Assert(rows <= self.max_rows, [limit, rows], name="max_request_rows")

    def position_pairs(self, item_ids: tf.Tensor) -> tf.Tensor:
        """``[M, 2]`` (row, catalog position) of the catalog items among ``[B, L]`` ids (padding ignored)."""
        positions = self.scorer.position.lookup(item_ids)
        where = tf.where(positions >= 0)
        return tf.stack([where[:, 0], tf.gather_nd(positions, where)], axis=1)

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

    def rank(
        self,
        query: dict[str, tf.Tensor],
        exclude: tf.Tensor | None = None,
        known: tf.Tensor | None = None,
        wanted: filters.Request | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(scores, positions)`` ``[B, k]`` of the best catalog items per row (``-1``: no item).

        Args:
          exclude: ``[M, 2]`` (row, catalog position) pairs never to return.
          known: ``[B]`` bool; rows where it is False get TRAIN popularity (cold start).
          wanted: the request's filters (``filters.request``), for the filtered signatures.
        """
        rules = self.retriever.rules(exclude=exclude, wanted=wanted, attributes=self.attributes)
        queries = self.query_tower(query, training=False)
        return self.retriever.top_k(queries, query[F.HISTORY_ITEM_IDS], known, rules)

    def answer(self, scores: tf.Tensor, positions: tf.Tensor) -> dict[str, tf.Tensor]:
        # A user who knows nearly the whole catalog: the slots past the unknown items stay empty.
        ids = tf.where(positions < 0, F.PAD, tf.gather(self.scorer.item_ids, tf.maximum(positions, 0)))
        return {S.ITEM_IDS: ids, S.SCORES: scores}

    def top_k(self, query: dict[str, tf.Tensor], *args: Any, **kwargs: Any) -> dict[str, tf.Tensor]:
        """The best k catalog items per row as ``item_ids`` and ``scores`` (``rank``'s arguments)."""
        return self.answer(*self.rank(query, *args, **kwargs))

    def recommend_filtered(self, user_ids: tf.Tensor, given: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.check_rows(user_ids)
        wanted = filters.request(self.scorer.position, self.attributes, given)
        known = self.users.rows.lookup(user_ids) > 0
        return self.top_k(self.users(user_ids), self.users.known_pairs(user_ids), known, wanted)

    def filtered(self, query: dict[str, tf.Tensor], given: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.check_rows(query[F.USER_ID])
        return self.top_k(query, wanted=filters.request(self.scorer.position, self.attributes, given))

    def recommend_explained(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        """``recommend_user``'s answer with the reasons of ``trainer/explain.py``."""
        self.check_rows(user_ids)
        query, known = self.users(user_ids), self.users.rows.lookup(user_ids) > 0
        scores, positions = self.rank(query, self.users.known_pairs(user_ids), known)
        return {**self.answer(scores, positions), **self.explainer(query, positions)}

    def recommend(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        self.check_rows(user_ids)
        known = self.users.rows.lookup(user_ids) > 0
        return self.top_k(self.users(user_ids), self.users.known_pairs(user_ids), known)

    def recommend_with_recent(self, user_ids: tf.Tensor, recent: tf.Tensor) -> dict[str, tf.Tensor]:
        self.check_rows(user_ids)
        query = self.with_recent(user_ids, recent)
        known = self.users.rows.lookup(user_ids) > 0
        if self.reads_history:
            known = tf.logical_or(known, tf.reduce_any(tf.not_equal(recent, F.PAD), axis=1))
        exclude = tf.concat([self.users.known_pairs(user_ids), self.position_pairs(recent)], axis=0)
        return self.top_k(query, exclude, known)

    def excluding(self, query: dict[str, tf.Tensor], exclude_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        self.check_rows(exclude_ids)
        return self.top_k(query, self.position_pairs(exclude_ids))

    def plain(self, query: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.check_rows(query[F.USER_ID])
        return self.top_k(query)

    def candidates_with_text(self, **inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """Candidate vectors; a row with ``item_text`` is embedded from it, the others by their id."""
        texts = inputs.pop(F.ITEM_TEXT)
        self.check_rows(texts)
        given = tf.not_equal(texts, "")
        stored = self.candidate_tower.text.vector_of(inputs[F.ITEM_ID])
        inputs[F.ITEM_TEXT_VECTOR] = tf.where(given[:, tf.newaxis], self.encoder.encode(texts), stored)
        return {S.EMBEDDING: self.candidate_tower(inputs, training=False)}

    def text_embedding(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        self.check_rows(text)
        return {S.EMBEDDING: self.encoder.encode(text)}

    def text_signatures(self, concrete: Any) -> dict[str, Any]:
        """With an encoder in the export: raw text in (new items, any sentence), vectors out."""
        if self.encoder is None:
            return {}
        specs = {
            **F.tensor_specs(self.candidate_features),
            F.ITEM_TEXT: tf.TensorSpec([None], tf.string, F.ITEM_TEXT),
        }
        return {
            S.CANDIDATE_EMBEDDING: concrete(self.candidates_with_text, **specs),
            S.TEXT_EMBEDDING: concrete(self.text_embedding, text=tf.TensorSpec([None], tf.string, S.TEXT)),
        }

    def from_examples(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        self.check_rows(examples)
        parsed = tf.io.parse_example(examples, F.parse_spec(self.query_features))
        return self.top_k(F.densify(parsed, self.query_features))

    def signatures(self) -> dict[str, Any]:
        query_spec = F.tensor_specs(self.query_features)
        candidate_spec = F.tensor_specs(self.candidate_features)
        user_spec = {F.USER_ID: query_spec[F.USER_ID]}
        list_spec = tf.TensorSpec([None, self.history_length], tf.string)
        exclude = {S.EXCLUDE_ITEM_IDS: tf.TensorSpec.from_spec(list_spec, S.EXCLUDE_ITEM_IDS)}
        recent = {S.RECENT_ITEM_IDS: tf.TensorSpec.from_spec(list_spec, S.RECENT_ITEM_IDS)}

        def embed(tower, checked):
            def run(**inputs):
                self.check_rows(inputs[checked])
                return {S.EMBEDDING: tower(inputs, training=False)}

            return run

        def excluding(**inputs):
            ids = inputs.pop(S.EXCLUDE_ITEM_IDS)
            return self.excluding(inputs, ids)

        def concrete(function, **spec):
            return tf.function(function).get_concrete_function(**spec)

        def split(inputs):
            return inputs, {name: inputs.pop(name) for name in S.FILTERS}

        def user_filtered(**inputs):
            rest, given = split(inputs)
            return self.recommend_filtered(rest[F.USER_ID], given)

        rules = {name: tf.TensorSpec([None, None], tf.string, name) for name in S.FILTERS}
        return {
            S.RECOMMEND_FILTERED: concrete(lambda **q: self.filtered(*split(q)), **query_spec, **rules),
            S.RECOMMEND_USER_FILTERED: concrete(user_filtered, **user_spec, **rules),
            S.RECOMMEND_USER_EXPLAINED: concrete(
                lambda **u: self.recommend_explained(u[F.USER_ID]), **user_spec
            ),
            S.DEFAULT: concrete(lambda **q: self.plain(q), **query_spec),
            S.RECOMMEND_EXCLUDING: concrete(excluding, **query_spec, **exclude),
            S.RECOMMEND_USER: concrete(lambda **u: self.recommend(u[F.USER_ID]), **user_spec),
            S.RECOMMEND_USER_WITH_RECENT: concrete(
                lambda **u: self.recommend_with_recent(u[F.USER_ID], u[S.RECENT_ITEM_IDS]),
                **user_spec,
                **recent,
            ),
            S.QUERY_EMBEDDING: concrete(embed(self.query_tower, F.USER_ID), **query_spec),
            S.CANDIDATE_EMBEDDING: concrete(embed(self.candidate_tower, F.ITEM_ID), **candidate_spec),
            S.PREDICT_EXAMPLES: concrete(
                lambda examples: self.from_examples(examples),
                examples=tf.TensorSpec([None], tf.string, S.EXAMPLES),
            ),
            **self.text_signatures(concrete),
        }
