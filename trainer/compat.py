"""The TF Serving compatibility gate, run on a fresh export in a fresh process.

``python -m trainer.compat DIR`` does what ``tensorflow_model_server`` would:
loads DIR through the TF1 session loader with the ``serve`` tag, and replays the
warm-up requests in ``assets.extra/``. Before that it checks that every op of the
graph and its function library is a stock TensorFlow op (no ``PyFunc``, no
``Scann>`` or other custom ops) and that every asset the graph reads is under
``assets/``. Each replayed response must equal the one recorded at export time
by the in-process model. Exit code 0 means the version may be published.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving.servable import foreign_ops, read_meta_graph

WARMUP = os.path.join("assets.extra", "tf_serving_warmup_requests")


def missing_assets(meta_graph: Any, version_dir: str) -> list[str]:
    return [
        a.filename
        for a in meta_graph.asset_file_def
        if not os.path.exists(os.path.join(version_dir, "assets", a.filename))
    ]


def warmup_logs(version_dir: str) -> list[Any]:
    path = os.path.join(version_dir, WARMUP)
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def replay(version_dir: str, logs: list[Any], atol: float = 1e-4) -> list[str]:
    """Runs each warm-up request through a TF1 session; returns mismatches."""
    problems = []
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        loaded = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        for n, log in enumerate(logs):
            request, response = log.predict_log.request, log.predict_log.response
            signature = loaded.signature_def[request.model_spec.signature_name or "serving_default"]
            feed = {signature.inputs[k].name: tf.make_ndarray(v) for k, v in request.inputs.items()}
            fetch = {k: signature.outputs[k].name for k in response.outputs}
            got = session.run(fetch, feed)
            for key, expected in response.outputs.items():
                want = tf.make_ndarray(expected)
                same = (
                    np.allclose(got[key], want, atol=atol)
                    if want.dtype.kind == "f"
                    else np.array_equal(got[key], want)
                )
                if not same:
                    problems.append(f"warm-up record {n} ({signature_name(request)}): {key} differs")
    return problems


def signature_name(request: Any) -> str:
    return request.model_spec.signature_name or "serving_default"


def check(version_dir: str) -> dict[str, Any]:
    """Every check at once; ``ok`` is True only if all pass."""
    meta_graph = read_meta_graph(version_dir)
    report: dict[str, Any] = {
        "foreign_ops": foreign_ops(meta_graph),
        "missing_assets": missing_assets(meta_graph, version_dir),
    }
    logs = warmup_logs(version_dir) if os.path.exists(os.path.join(version_dir, WARMUP)) else []
    report["warmup_records"] = len(logs)
    report["mismatches"] = [] if report["foreign_ops"] else replay(version_dir, logs)
    report["ok"] = not (report["foreign_ops"] or report["missing_assets"] or report["mismatches"]) and bool(
        logs
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m trainer.compat VERSION_DIR", file=sys.stderr)
        return 2
    report = check(args[0])
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
