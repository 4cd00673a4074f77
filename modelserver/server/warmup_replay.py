"""Warm-up replay: run a version's recorded requests before it serves (``saved_model_warmup_util.cc``).

A SavedModel may carry ``assets.extra/tf_serving_warmup_requests``, a TFRecord file of
``tensorflow.serving.PredictionLog``. TF Serving replays every record through the new version while it
loads (``--enable_model_warmup``, on by default) so the first real requests do not pay for lazy
initialisation, and a failing record fails the load. Limits and messages are TF Serving's: at most
1000 records, an unparseable record is INVALID_ARGUMENT, and log types other than the supported ones
are UNIMPLEMENTED. Only ``predict_log`` is supported here, because the local server answers Classify,
Regress and MultiInference with UNIMPLEMENTED anyway.
"""

from __future__ import annotations

import os
import time

import grpc
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import prediction_log_pb2

from modelserver.saved_model import WARMUP_FILE
from modelserver.server.predict import Executor, predict
from modelserver.server.servable import Servable
from modelserver.status import ServingError, invalid

MAX_RECORDS = 1000  # WarmupConsts::kMaxNumRecords


def read_records(path: str) -> list[bytes]:
    """The raw records of a warm-up file (at most ``MAX_RECORDS``).

    Raises:
        ServingError: INVALID_ARGUMENT beyond 1000 records, DATA_LOSS for a corrupt TFRecord file.
    """
    records = []
    try:
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            records.append(record)
            if len(records) > MAX_RECORDS:
                raise invalid(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    except tf.errors.OpError as error:
        message = f"Failed to read warmup file {path}: {error.message}"
        raise ServingError(grpc.StatusCode.DATA_LOSS, message) from error
    return records


def replay(servable: Servable, model_name: str, executor: Executor, iterations: int = 1) -> tuple[int, float]:
    """Replays the warm-up file of ``servable``, if it has one, ``iterations`` times.

    Returns:
        (number of records, seconds taken); (0, 0.0) without a warm-up file.

    Raises:
        ServingError: the load must fail, with this status.
    """
    path = os.path.join(servable.path, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return 0, 0.0
    start = time.perf_counter()
    logs = [_parse(record) for record in read_records(path)]
    for _ in range(max(1, iterations)):
        for log in logs:
            predict(servable, log.predict_log.request, executor, model_name)
    return len(logs), time.perf_counter() - start


def _parse(record: bytes) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    try:
        log.ParseFromString(record)
    except message.DecodeError as error:
        raise invalid(f"Failed to parse warmup record: {error}") from error
    log_type = log.WhichOneof("log_type")
    if log_type != "predict_log":
        raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"Unsupported log_type for warmup: {log_type}")
    return log
