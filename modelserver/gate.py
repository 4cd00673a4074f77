"""The TF Serving compatibility gate, run on a fresh export in a fresh process.

``python -m modelserver.gate DIR`` does what ``tensorflow_model_server`` would:
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
import subprocess
import sys
from typing import Any, Sequence

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import message
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from modelserver import saved_model
from modelserver.status import ServingError

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})  # need a Python interpreter


def missing_assets(meta_graph: Any, version_dir: str) -> list[str]:
    return [
        a.filename
        for a in meta_graph.asset_file_def
        if not os.path.exists(os.path.join(version_dir, "assets", a.filename))
    ]


def warmup_logs(version_dir: str) -> list[Any]:
    path = saved_model.warmup_file(version_dir)
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def replay(version_dir: str, logs: list[Any], atol: float = 1e-4) -> list[str]:
    """Runs each warm-up request through a TF1 session; returns mismatches."""
    problems = []
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        loaded = tf.compat.v1.saved_model.loader.load(session, [saved_model.SERVE_TAG], version_dir)
        for n, log in enumerate(logs):
            request, response = log.predict_log.request, log.predict_log.response
            signature = loaded.signature_def[signature_name(request)]
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
    return request.model_spec.signature_name or saved_model.DEFAULT_SIGNATURE


def check(version_dir: str) -> dict[str, Any]:
    """Every check at once; ``ok`` is True only if all pass."""
    meta_graph = read_meta_graph(version_dir)
    report: dict[str, Any] = {
        "foreign_ops": foreign_ops(meta_graph),
        "missing_assets": missing_assets(meta_graph, version_dir),
    }
    logs = warmup_logs(version_dir) if os.path.exists(saved_model.warmup_file(version_dir)) else []
    report["warmup_records"] = len(logs)
    report["mismatches"] = [] if report["foreign_ops"] else replay(version_dir, logs)
    report["ok"] = not (report["foreign_ops"] or report["missing_assets"] or report["mismatches"]) and bool(
        logs
    )
    return report


def foreign_ops(meta_graph: meta_graph_pb2.MetaGraphDef) -> list[str]:
    """Op types of the graph and its function library that stock TF Serving does not have."""
    from tensorflow.python.framework import op_def_registry

    graph = meta_graph.graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    return sorted(op for op in ops if op in PYTHON_OPS or ">" in op or op_def_registry.get(op) is None)


def read_meta_graph(path: str, tag: str = saved_model.SERVE_TAG) -> meta_graph_pb2.MetaGraphDef:
    """Reads the MetaGraphDef tagged ``tag`` from ``path/saved_model.pb``.

    Raises:
        ServingError: DATA_LOSS for an unreadable file, NOT_FOUND when no MetaGraph has the tag.
    """
    saved_model = saved_model_pb2.SavedModel()
    try:
        with tf.io.gfile.GFile(f"{path}/saved_model.pb", "rb") as f:
            saved_model.ParseFromString(f.read())
    except (message.DecodeError, tf.errors.OpError, OSError) as error:
        message_text = f"Can't parse {path}/saved_model.pb: {error}"
        raise ServingError(grpc.StatusCode.DATA_LOSS, message_text) from error
    for meta_graph in saved_model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ServingError(
        grpc.StatusCode.NOT_FOUND,
        f"Could not find meta graph def matching supplied tags: {{ {tag} }} in {path}",
    )


class IncompatibleExport(RuntimeError):
    """The export would not load or answer correctly in TF Serving."""


def run(version_dir: str) -> dict[str, Any]:
    """Runs this gate on ``version_dir`` in a fresh process; raises ``IncompatibleExport`` if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "modelserver.gate", version_dir], capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"ok": False, "error": done.stderr[-2000:]}
    if done.returncode != 0 or not report.get("ok"):
        raise IncompatibleExport(f"{version_dir} failed the TF Serving compatibility gate: {report}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m modelserver.gate VERSION_DIR", file=sys.stderr)
        return 2
    report = check(args[0])
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
