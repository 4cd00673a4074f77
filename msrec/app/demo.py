"""``msrec demo``: every stage once, on the generated dataset, with nothing from outside.

generate -> preprocess (Beam, item texts embedded by a pretrained sentence encoder) ->
train (TFRS) -> evaluate (PROTOCOL.md, beside MostPopular) -> export (SavedModel, plus
one new item nobody has met, written about one user's favourite topic) -> serve (TF
Serving protocol, gRPC) -> recommend (official TF Serving stub) for three users, why
(``recommend_user_explained``) for the first, and the new item to the user whose topic it is.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from msrec import config as msrec_config
from msrec import features as F
from msrec import signatures as S
from msrec import source_config as sources
from msrec.app import progress

NEW_ITEMS = "new_items.jsonl"  # in the workdir: the items export adds without retraining


def _stage(number: int, title: str) -> float:
    print(f"\n== [{number}/6] {title}", flush=True)
    return time.time()


def _done(started: float) -> None:
    print(f"   done in {time.time() - started:.1f}s", flush=True)


def run(workdir: str, epochs: int | None = None, users_shown: int = 3) -> int:
    """Runs the demo in ``workdir`` (replaced) and prints what each stage produced."""
    shutil.rmtree(workdir, ignore_errors=True)
    raw, data_dir = os.path.join(workdir, "raw"), os.path.join(workdir, "data")
    model_dir, export_base = os.path.join(workdir, "model"), os.path.join(workdir, "export")
    config = msrec_config.override(msrec_config.Config(), [f"train.epochs={epochs}"] if epochs else [])
    begun = time.time()
    spec = _generate(raw)
    _preprocess(raw, data_dir, config)
    trained = _train_and_evaluate(config, data_dir, model_dir)
    tastes, fan, item = _export(spec, trained, export_base, workdir)
    _serve_and_recommend(export_base, _sample_users(raw, users_shown) + [fan], tastes, fan, item["item_id"])
    print(f"\nDemo finished in {time.time() - begun:.0f}s. Artifacts under {workdir}/")
    return 0


def _generate(raw: str) -> Any:
    import synthetic

    t = _stage(1, "generate the synthetic multi-source dataset")
    spec = synthetic.SyntheticSpec()
    with progress.bar("   interactions", spec.num_interactions) as bar:
        counts = synthetic.generate(raw, spec, progress=bar.update_to)
    print(f"   {json.dumps(counts)}")
    _done(t)
    return spec


def _preprocess(raw: str, data_dir: str, config: msrec_config.Config) -> None:
    from preprocessing import pipeline

    t = _stage(2, "preprocess with Apache Beam (DirectRunner)")
    metadata = pipeline.run(sources.preset("synthetic"), raw, data_dir, config.data, show_progress=True)
    progress.print_source_report(metadata["sources"])
    print(
        f"   {metadata['train_examples']:,} train examples, {metadata['evaluated_users']:,} evaluated users, "
        f"catalog {metadata['catalog_items']:,}; test split sha256 {metadata['test_split_sha256'][:16]}..."
    )
    _done(t)


def _train_and_evaluate(config: msrec_config.Config, data_dir: str, model_dir: str) -> Any:
    """Trains and evaluates; returns ``artifacts.load``'s (model, resolved config, data handle)."""
    from msrec.datadir import DataDir
    from trainer import artifacts, evaluate, task
    from trainer.scoring import Ranking

    t = _stage(3, "train the two-tower model (TFRS, in-batch softmax over whole sequences)")
    data = DataDir.open(data_dir)
    task.run(config, data, model_dir)
    _done(t)

    t = _stage(4, "evaluate on the full catalog (PROTOCOL.md)")
    model, trained, _ = artifacts.load(model_dir, data)
    result = evaluate.evaluate(model, Ranking.of(trained.model), data)
    progress.print_metrics({"msrec": result["model"], "MostPopular": result["popularity"]})
    lift = result["model"]["HR@10"] / max(result["popularity"]["HR@10"], 1e-9)
    print(f"   HR@10 is {lift:.1f}x MostPopular's")
    _done(t)
    return model, trained, data


def _export(
    spec: Any, trained: Any, export_base: str, workdir: str
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Exports, with one new item about a user's favourite topic; returns (tastes, that user, item)."""
    import synthetic
    from modelserver import gate
    from trainer import artifacts, export
    from trainer.scoring import Ranking

    model, config, data = trained

    t = _stage(5, "export a versioned SavedModel for TF Serving, plus one new item nobody has met")
    tastes = synthetic.favourite_topics(spec)  # the hidden world's: no model has seen them
    fan = max(tastes, key=lambda user: (tastes[user].weight, user))  # the most devoted to one topic
    item = _write_new_item(spec, tastes[fan], os.path.join(workdir, NEW_ITEMS))
    print(f"   new item {item['item_id']}, about {fan}'s favourite topic ({tastes[fan].name}):")
    print(f"   {item['title']!r} {item['categories'] + item['tags']}: {item['description']}")
    served = artifacts.served(model, data, os.path.join(workdir, NEW_ITEMS))
    path = export.export(model, Ranking.of(config.model), config.serving, served, export_base, gate=gate.run)
    print(f"   {path}")
    _done(t)
    return tastes, fan, item


def _serve_and_recommend(export_base: str, users: list[str], tastes: dict, fan: str, item_id: str) -> None:
    from modelserver.client import GrpcClient
    from modelserver.server.main import ModelServer

    t = _stage(6, "serve over TF Serving's gRPC API and recommend")
    server = ModelServer("msrec", export_base, port=0, poll_seconds=0)
    server.start()
    try:
        with GrpcClient(f"127.0.0.1:{server.port}", "msrec") as client:
            for user in users:
                out = client.predict({F.USER_ID: [user]}, signature_name=S.RECOMMEND_USER)
                top = [i.decode() for i in out[S.ITEM_IDS][0][:10]]
                print(f"   msrec recommend --user_id {user}: {' '.join(top)}")
            _show_explanation(client, users[0])
            _show_new_item(client, tastes, fan, item_id)
    finally:
        server.stop(grace=1.0)
    _done(t)


def _show_explanation(client: Any, user: str, shown: int = 3) -> None:
    """Why ``recommend_user_explained`` recommends its first items to ``user``, in plain words."""
    from msrec.app import explanations

    out = client.predict({F.USER_ID: [user]}, signature_name=S.RECOMMEND_USER_EXPLAINED)
    print(f"   msrec recommend --user_id {user} --explain:")
    for line in explanations.sentences(out, range(min(shown, len(out[S.ITEM_IDS][0])))):
        print(f"     {line}")


def _sample_users(raw_dir: str, n: int) -> list[str]:
    """The first ``n`` user ids of the generated profile file."""
    with open(os.path.join(raw_dir, "users.csv"), encoding="utf-8") as f:
        next(f)
        return [line.split(",", 1)[0] for _, line in zip(range(n), f, strict=False)]


def _write_new_item(spec: Any, topic: Any, path: str) -> dict[str, Any]:
    """A new item wholly of ``topic`` (a ``synthetic.Topic``), written to ``path`` as JSONL."""
    import synthetic

    item = synthetic.new_item(spec, topic, "new-0001")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(item) + "\n")
    return item


def _show_new_item(client: Any, tastes: dict[str, Any], fan: str, item_id: str) -> None:
    """Where ``recommend_user`` puts the new item for the fan, and for whom it returns it at all."""
    users, returned = sorted(tastes), {}
    for start in range(0, len(users), 250):
        chunk = users[start : start + 250]
        out = client.predict({F.USER_ID: chunk}, signature_name=S.RECOMMEND_USER)
        for user, row in zip(chunk, out[S.ITEM_IDS], strict=True):
            row = [i.decode() for i in row if i]
            if item_id in row:
                returned[user] = (row.index(item_id) + 1, len(row))
    topic = tastes[fan]
    where = (
        "number {} of the {} items recommend_user returns".format(*returned[fan])
        if fan in returned
        else "not returned"
    )
    print(f"   {fan} likes {topic.name}: {item_id} is {where}")
    alike = [u for u in users if tastes[u].cluster == topic.cluster]
    hits = sum(u in returned for u in alike)
    others = len(returned) - hits
    top = sum(returned[u][0] <= 10 for u in returned if u in alike)
    top_others = sum(returned[u][0] <= 10 for u in returned) - top
    genre = topic.name.split(" / ")[0]
    print(
        f"   {item_id} is returned to {hits} of the {len(alike)} users whose favourite topic is {genre} "
        f"({top} in their top 10), and to {others} of the other {len(users) - len(alike)} "
        f"({top_others} in their top 10)"
    )
    if returned:  # where it ranks best: the new item in a served top 10
        user = min(returned, key=lambda u: (returned[u][0], u))
        place, length = returned[user]
        print(
            f"   highest: number {place} of {length} for {user} (favourite topic {tastes[user].name});"
            f" msrec recommend --user_id {user} lists it"
        )
