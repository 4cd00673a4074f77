"""The ``msrec`` subcommands: each turns parsed flags into one call of its stage.

``msrec/cli.py`` owns the flags; these handlers own nothing but the wiring, and
import their stage only when they run, so ``msrec --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Sequence

import msrec
from msrec import config as msrec_config
from msrec.app import progress

DATA_ENV = "MSREC_DATA_DIR"


def _resolve_input(dataset: str, given: str | None) -> str | None:
    """``--input``, else ``$MSREC_DATA_DIR/<dataset>``; None means: generate (synthetic only)."""
    if given:
        return given
    if os.environ.get(DATA_ENV) and dataset != "synthetic":
        return os.path.join(os.environ[DATA_ENV], dataset)
    if dataset == "synthetic":
        return None
    raise SystemExit(f"msrec: no input for {dataset!r}: pass --input DIR or set ${DATA_ENV}")


def _write_json(path: str, value: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)


def _fresh_dir(path: str, overwrite: bool) -> None:
    """Makes ``path`` an empty directory; remote (``gs://``) ones must not hold a finished run."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        marker = f"{path.rstrip('/')}/_SUCCESS"
        if FileSystems.exists(marker) and not overwrite:
            raise SystemExit(f"msrec: {path} holds a finished run; pass --overwrite or use a new directory")
        return
    if os.path.exists(path) and os.listdir(path):
        if not overwrite:
            raise SystemExit(f"msrec: {path} is not empty; pass --overwrite to replace it")
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)


def cmd_generate(args: argparse.Namespace) -> int:
    import synthetic

    spec = synthetic.SyntheticSpec(
        num_users=args.users, num_items=args.items, num_interactions=args.interactions, seed=args.seed
    )
    with progress.bar("generate", spec.num_interactions) as bar:
        counts = synthetic.generate(args.output, spec, progress=bar.update_to)
    print(json.dumps({"output": args.output, **counts}))
    return 0


def cmd_preprocess(args: argparse.Namespace, beam_args: Sequence[str]) -> int:
    import synthetic
    from msrec import source_config as sources
    from preprocessing import pipeline

    dataset = sources.load(args.config) if args.config else sources.preset(args.dataset)
    input_dir = _resolve_input(dataset.name, args.input)
    _fresh_dir(args.output, args.overwrite)
    if input_dir is None:
        if "://" in args.output:
            raise SystemExit("msrec: generate the synthetic data locally (msrec generate) and pass --input")
        input_dir = os.path.join(args.output, "raw")
        with progress.bar("generate synthetic", synthetic.SyntheticSpec().num_interactions) as bar:
            synthetic.generate(input_dir, synthetic.SyntheticSpec(seed=args.seed), progress=bar.update_to)
    defaults = args.data_config or _dataset_config(dataset.name)  # the dataset's documented overrides
    data = msrec_config.override(msrec_config.load(defaults), args.set).data
    print(f"msrec preprocess: {dataset.name} from {input_dir} -> {args.output}", flush=True)
    metadata = pipeline.run(
        dataset,
        input_dir,
        args.output,
        data,
        beam_args,
        args.num_shards,
        args.max_bad_fraction,
        show_progress=True,
    )
    progress.print_source_report(metadata["sources"])
    print(
        json.dumps(
            {
                k: metadata[k]
                for k in ("users", "evaluated_users", "catalog_items", "train_examples", "test_split_sha256")
            }
        )
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from msrec.datadir import DataDir
    from trainer import task

    record = task.run(task.resolve_config(args), DataDir.open(args.data), args.model_dir)
    print(json.dumps({"model_dir": args.model_dir, **record}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from msrec.datadir import DataDir
    from trainer import artifacts, evaluate
    from trainer.scoring import Ranking

    if not (args.model_dir or args.export):
        raise SystemExit(
            "msrec evaluate: pass --model-dir (the trained model), --export (a version), or both"
        )
    report: dict = {"split": args.split}
    shown = {}
    if args.model_dir:
        model, config, data = artifacts.load(args.model_dir, DataDir.open(args.data) if args.data else None)
        result = evaluate.evaluate(model, Ranking.of(config.model), data, args.split)
        report.update(result["model"])
        report.update(catalog_items=result["catalog_items"], popularity=result["popularity"])
        shown = {"msrec": result["model"], "MostPopular": result["popularity"]}
    if args.export:
        data = DataDir.open(args.data or _card_data_dir(args.export))
        report["served"] = _served(args.export, data, args.split)
        shown["msrec served"] = report["served"]
        if args.model_dir:
            report["served_minus_in_process"] = {
                k: report["served"][k] - report[k] for k in ("HR@10", "NDCG@10", "HR@20", "NDCG@20")
            }
    _write_json(args.output, report)
    progress.print_metrics(shown)
    if args.export:
        print(f"known items in the served lists: {report['served']['known_items_returned']}")
    return 0


def _served(version_dir: str, data, split: str) -> dict:
    """PROTOCOL.md metrics of an export, asked through ``recommend_user`` (``serving/evaluate.py``)."""
    from serving import evaluate as served
    from trainer import evaluate

    return served.evaluate(version_dir, evaluate.held_out(data, split))


def _card_data_dir(version_dir: str) -> str:
    from msrec import signatures as S

    with open(S.model_card(version_dir), encoding="utf-8") as f:
        return json.load(f)["data"]["data_dir"]


def cmd_export(args: argparse.Namespace) -> int:
    import dataclasses

    from modelserver import gate
    from msrec.datadir import DataDir
    from trainer import artifacts, blessing, evaluate, export
    from trainer.scoring import Ranking

    model, config, data = artifacts.load(args.model_dir, DataDir.open(args.data) if args.data else None)
    card = {"config": msrec_config.to_dict(config), "data": _data_card(data)}
    ranking = Ranking.of(config.model)
    bless = None
    if not args.no_blessing:
        bless = export.Blessing(evaluate.evaluate(model, ranking, data, "validation"), args.tolerance)
    serving = dataclasses.replace(config.serving, top_k=args.k) if args.k else config.serving
    served = artifacts.served(model, data, args.new_items)
    try:
        path = export.export(model, ranking, serving, served, args.export_base, card, gate.run, bless)
    except blessing.NotBlessed as err:
        print(json.dumps({"rejected": err.comparison}), file=sys.stderr)
        return 3
    print(json.dumps({"export": path}))
    return 0


def _data_card(data) -> dict:
    """What the model card records of the data: where, which split, which versions."""
    meta = data.metadata
    keys = (
        "dataset",
        "test_split_sha256",
        "feature_spec_version",
        "users",
        "catalog_items",
        "train_interactions",
    )
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    versions = {
        "msrec": msrec.__version__,
        "tensorflow": tf.__version__,
        "tensorflow_recommenders": tfrs.__version__,
    }
    return {"data_dir": data.path, **{k: meta.get(k) for k in keys}, "versions": versions}


def cmd_serve(args: argparse.Namespace) -> int:
    from modelserver.server import main as server

    return server.main(args.server_argv)


def cmd_batch_predict(args: argparse.Namespace) -> int:
    from serving import batch_inference

    return batch_inference.main(args.job_argv)


def cmd_recommend(args: argparse.Namespace) -> int:
    from modelserver import client as clients
    from msrec import features as F
    from msrec import signatures as S

    cls = clients.RestClient if args.rest else clients.GrpcClient
    client = cls(args.server, args.model_name)
    try:
        out = client.predict({F.USER_ID: [args.user_id]}, signature_name=S.RECOMMEND_USER)
    finally:
        client.close()
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in out[S.ITEM_IDS][0][: args.k]]
    print(
        json.dumps(
            {
                "user_id": args.user_id,
                "item_ids": ids,
                "scores": [round(float(s), 5) for s in out[S.SCORES][0][: args.k]],
            }
        )
    )
    return 0


def _experiment_config(args: argparse.Namespace):
    return msrec_config.override(msrec_config.load(args.config or _dataset_config(args.dataset)), args.set)


def _dataset_config(dataset: str) -> str | None:
    """The documented per-dataset overrides shipped in msrec/presets/, if any."""
    import importlib.resources

    path = importlib.resources.files("msrec").joinpath("presets", f"{dataset}.model.yaml")
    return str(path) if path.is_file() else None


def cmd_benchmark(args: argparse.Namespace) -> int:
    from msrec.app import experiments

    workdir = args.workdir or os.path.join("runs", "benchmark", args.dataset)
    result = experiments.benchmark(
        args.dataset,
        _resolve_input(args.dataset, args.input),
        workdir,
        _experiment_config(args),
        args.seeds,
        tune_minutes=args.budget_minutes if args.tune else None,
    )
    _write_json(args.output, result)
    progress.print_metrics({"msrec (mean)": result["test"], "MostPopular": result["popularity"]})
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from msrec.app import tune
    from msrec.datadir import DataDir

    base = msrec_config.override(msrec_config.load(args.config), args.set)
    result = tune.run(
        DataDir.open(args.data), args.workdir or os.path.join("runs", "tune"), base, args.budget_minutes
    )
    path = tune.write(result, args.output_dir)
    print(tune.markdown(result))
    print(json.dumps({"tuned_config": path, "overrides": result["overrides"]}))
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from msrec.app import experiments

    workdir = args.workdir or os.path.join("runs", "ablation", args.dataset)
    rows = experiments.ablation(
        args.dataset, _resolve_input(args.dataset, args.input), workdir, _experiment_config(args)
    )
    os.makedirs(args.output_dir, exist_ok=True)
    stem = os.path.join(args.output_dir, f"ablation-{args.dataset}")
    _write_json(stem + ".json", rows)
    with open(stem + ".md", "w", encoding="utf-8") as f:
        f.write(experiments.ablation_markdown(args.dataset, rows))
    experiments.ablation_plot(args.dataset, rows, stem + ".png")
    print(experiments.ablation_markdown(args.dataset, rows))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from msrec.app import demo

    return demo.run(args.workdir, epochs=args.epochs)
