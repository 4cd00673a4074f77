"""``msrec demo``: every stage once, on the generated dataset, with nothing from outside.

generate -> preprocess (Beam) -> train (TFRS) -> evaluate (PROTOCOL.md, beside
MostPopular) -> export (SavedModel) -> serve (TF Serving protocol, gRPC) ->
recommend (official TF Serving stub) for three users.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from msrec import config as msrec_config
from msrec import features as F
from msrec import signatures as S
from msrec import source_config as sources
from msrec.app import progress


def _stage(number: int, title: str) -> float:
    print(f"\n== [{number}/6] {title}", flush=True)
    return time.time()


def _done(started: float) -> None:
    print(f"   done in {time.time() - started:.1f}s", flush=True)


def run(workdir: str, epochs: int | None = None, users_shown: int = 3) -> int:
    """Runs the demo in ``workdir`` (replaced) and prints what each stage produced."""
    import synthetic
    from preprocessing import pipeline
    from serving import gate
    from serving.client import GrpcClient
    from serving.server.main import ModelServer
    from trainer import artifacts, evaluate, export, task

    shutil.rmtree(workdir, ignore_errors=True)
    raw, data_dir = os.path.join(workdir, "raw"), os.path.join(workdir, "data")
    model_dir, export_base = os.path.join(workdir, "model"), os.path.join(workdir, "export")
    config = msrec_config.override(msrec_config.Config(), [f"train.epochs={epochs}"] if epochs else [])
    begun = t = _stage(1, "generate the synthetic multi-source dataset")
    spec = synthetic.SyntheticSpec()
    with progress.bar("   interactions", spec.num_interactions) as bar:
        counts = synthetic.generate(raw, spec, progress=bar.update_to)
    print(f"   {json.dumps(counts)}")
    _done(t)

    t = _stage(2, "preprocess with Apache Beam (DirectRunner)")
    metadata = pipeline.run(sources.preset("synthetic"), raw, data_dir, config.data)
    progress.print_source_report(metadata["sources"])
    print(
        f"   {metadata['train_examples']:,} train examples, {metadata['evaluated_users']:,} evaluated users, "
        f"catalog {metadata['catalog_items']:,}; test split sha256 {metadata['test_split_sha256'][:16]}..."
    )
    _done(t)

    t = _stage(3, "train the two-tower model (TFRS, in-batch softmax)")
    task.run(config, data_dir, model_dir)
    _done(t)

    t = _stage(4, "evaluate on the full catalog (PROTOCOL.md)")
    model, _, _ = artifacts.load(model_dir)
    result = evaluate.evaluate(model, data_dir)
    progress.print_metrics({"msrec": result["model"], "MostPopular": result["popularity"]})
    lift = result["model"]["HR@10"] / max(result["popularity"]["HR@10"], 1e-9)
    print(f"   HR@10 is {lift:.1f}x MostPopular's")
    _done(t)

    t = _stage(5, "export a versioned SavedModel for TF Serving")
    path = export.export(model, data_dir, export_base, config.model.top_k, gate=gate.run)
    print(f"   {path}")
    _done(t)

    t = _stage(6, "serve over TF Serving's gRPC API and recommend")
    server = ModelServer("msrec", export_base, port=0, poll_seconds=0)
    server.start()
    try:
        with GrpcClient(f"127.0.0.1:{server.port}", "msrec") as client:
            for user in _sample_users(raw, users_shown):
                out = client.predict({F.USER_ID: [user]}, signature_name=S.RECOMMEND_USER)
                top = [i.decode() for i in out[S.ITEM_IDS][0][:10]]
                print(f"   msrec recommend --user_id {user}: {' '.join(top)}")
    finally:
        server.stop(grace=1.0)
    _done(t)
    print(f"\nDemo finished in {time.time() - begun:.0f}s. Artifacts under {workdir}/")
    return 0


def _sample_users(raw_dir: str, n: int) -> list[str]:
    """The first ``n`` user ids of the generated profile file."""
    with open(os.path.join(raw_dir, "users.csv"), encoding="utf-8") as f:
        next(f)
        return [line.split(",", 1)[0] for _, line in zip(range(n), f, strict=False)]
