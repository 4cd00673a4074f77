"""Warm-up requests: real requests for every signature, with the answers of the in-process model.

TF Serving replays ``assets.extra/tf_serving_warmup_requests`` before a version
takes traffic; ``modelserver.gate`` replays the same records through the TF1
loader and compares the answers, which is what makes them a compatibility test.
"""

from __future__ import annotations

import posixpath
from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import signatures as S


def _serialized(
    query: dict[str, np.ndarray], user_ids: np.ndarray, features: tuple[F.Feature, ...]
) -> np.ndarray:
    """Each row of a query batch as a serialized tf.Example, as preprocessing writes them."""
    decode = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    rows = [
        {name: [decode(v) for v in column[i]] for name, column in query.items()} for i in range(len(user_ids))
    ]
    examples = [
        F.encode_example({**row, F.USER_ID: decode(u)}, features)
        for row, u in zip(rows, user_ids, strict=True)
    ]
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def warmup_logs(module: Any, signatures: dict[str, Any], rows: int = 8) -> list[Any]:
    """Real requests (the first known users, and one unknown) with the in-process responses."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    rows = min(rows, module.max_rows)  # the requests must pass the export's own row cap
    keys, positions = (t.numpy()[: rows - 1] for t in module.users.rows.export())
    query = {name: tf.gather(column, positions).numpy() for name, column in module.users.columns.items()}
    with_unknown = np.append(keys, np.array([b"<unknown user>"], object))
    recent = np.full((len(with_unknown), module.history_length), b"", dtype=object)
    most_popular = module.scorer.item_ids.numpy()[int(np.argmax(module.popularity.numpy()))]
    recent[:, 0] = most_popular  # one new event for every user, the unknown one too
    requests = {
        S.DEFAULT: {**query, F.USER_ID: keys},
        S.RECOMMEND_EXCLUDING: {**query, F.USER_ID: keys, S.EXCLUDE_ITEM_IDS: query[F.HISTORY_ITEM_IDS]},
        S.RECOMMEND_USER: {F.USER_ID: with_unknown},
        S.RECOMMEND_USER_WITH_RECENT: {F.USER_ID: with_unknown, S.RECENT_ITEM_IDS: recent},
        S.PREDICT_EXAMPLES: {S.EXAMPLES: _serialized(query, keys, module.query_features)},
        **_filtered(module, query, keys, with_unknown, most_popular),
    }
    logs = []
    for name, inputs in requests.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = name
        response = predict_pb2.PredictResponse()
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        for key, value in signatures[name](**{k: tf.constant(v) for k, v in inputs.items()}).items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        log = prediction_log_pb2.PredictionLog()
        log.predict_log.request.CopyFrom(request)
        log.predict_log.response.CopyFrom(response)
        logs.append(log)
    return logs


def _filtered(
    module: Any, query: dict[str, np.ndarray], keys: np.ndarray, users: np.ndarray, popular: bytes
) -> dict[str, dict[str, np.ndarray]]:
    """Requests of the filtered and explained signatures: the known users' features choosing by the
    first attribute, every user (the unknown one too) refusing it and the most popular item."""
    first = (module.attributes.names or [""])[0].encode()
    nothing = lambda rows: np.full((rows, 1), b"", dtype=object)  # noqa: E731
    given = lambda rows, *values: np.array([list(values)] * rows, dtype=object)  # noqa: E731
    return {
        S.RECOMMEND_FILTERED: {
            **query,
            F.USER_ID: keys,
            S.INCLUDE_ITEM_IDS: nothing(len(keys)),
            S.EXCLUDE_ITEM_IDS: given(len(keys), popular),
            S.INCLUDE_ATTRIBUTES: given(len(keys), first, b""),
            S.EXCLUDE_ATTRIBUTES: nothing(len(keys)),
        },
        S.RECOMMEND_USER_FILTERED: {
            F.USER_ID: users,
            S.INCLUDE_ITEM_IDS: nothing(len(users)),
            S.EXCLUDE_ITEM_IDS: given(len(users), popular),
            S.INCLUDE_ATTRIBUTES: nothing(len(users)),
            S.EXCLUDE_ATTRIBUTES: given(len(users), first),
        },
        S.RECOMMEND_USER_EXPLAINED: {F.USER_ID: users},
    }


def write_warmup(version_dir: str, logs: list[Any]) -> None:
    path = S.warmup_file(version_dir)
    tf.io.gfile.makedirs(posixpath.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
