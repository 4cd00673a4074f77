"""The ``msrec`` subcommands: each turns parsed flags into one call of its stage.

``parsers.py`` owns the flags and ``checks.py`` what must exist before a command starts; these
handlers own nothing but the wiring, and import their stage only when they run, so
``msrec --help`` stays fast. Each takes the parsed flags (``args.beam_args``: the flags a Beam
job passes on to its runner) and returns the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from typing import Any

import msrec
from msrec import config as msrec_config
from msrec import errors, flags, paths
from msrec.app import progress, server_commands
from msrec.app.parsers import DATA_ENV


def _resolve_input(dataset: str, given: str | None) -> str | None:
    """``--input``, else ``$MSREC_DATA_DIR/<dataset>``; None means: generate (synthetic only)."""
    if given:
        return given
    if os.environ.get(DATA_ENV) and dataset != "synthetic":
        return os.path.join(os.environ[DATA_ENV], dataset)
    if dataset == "synthetic":
        return None
    raise errors.BadFlag(
        f"no input for {dataset!r}: pass --input DIR, or set ${DATA_ENV} to the folder of datasets"
    )


def _write_json(path: str, value: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)


def _fresh_dir(path: str, overwrite: bool) -> None:
    """Makes ``path`` an empty directory; remote (``gs://``) ones must not hold a finished run."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        if FileSystems.exists(paths.join(path, paths.SUCCESS)) and not overwrite:
            raise errors.OutputExists(
                f"{path} holds a finished run; pass --overwrite or use a new directory", path
            )
        return
    if os.path.exists(path) and os.listdir(path):
        if not overwrite:  # a run that stopped (a failed job, a killed process) left files but no _SUCCESS
            finished = os.path.exists(os.path.join(path, paths.SUCCESS))
            held = "a finished run" if finished else "no finished run (no _SUCCESS: a run that stopped)"
            raise errors.OutputExists(
                f"{path} is not empty: it holds {held}; pass --overwrite to replace it, or use a new "
                "directory",
                path,
            )
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)


def cmd_generate(args: argparse.Namespace) -> int:
    import synthetic

    try:
        spec = synthetic.SyntheticSpec(
            num_users=args.users, num_items=args.items, num_interactions=args.interactions, seed=args.seed
        )
    except ValueError as err:  # the generated world's own limits, e.g. enough items per category
        raise errors.BadFlag(f"--users/--items/--interactions: {err}") from err
    try:  # before the progress bar starts, so that a failure is a line of its own
        os.makedirs(args.output, exist_ok=True)
    except OSError as err:
        raise errors.BadFlag(f"cannot write to --output {args.output}: {err.strerror or err}") from err
    with progress.bar("generate", spec.num_interactions) as bar:
        counts = synthetic.generate(args.output, spec, progress=bar.update_to)
    print(json.dumps({"output": args.output, **counts}))
    return 0


def cmd_preprocess(args: argparse.Namespace) -> int:
    import synthetic
    from msrec import source_config as sources
    from preprocessing import pipeline

    dataset = sources.load(args.config) if args.config else sources.preset(args.dataset)
    input_dir = _resolve_input(dataset.name, args.input)
    data = flags.config(args.data_config, args.set).data
    _fresh_dir(args.output, args.overwrite)
    if input_dir is None:
        if "://" in args.output:
            raise errors.BadFlag("generate the synthetic data locally (msrec generate) and pass --input")
        input_dir = os.path.join(args.output, "raw")
        with progress.bar("generate synthetic", synthetic.SyntheticSpec().num_interactions) as bar:
            synthetic.generate(input_dir, synthetic.SyntheticSpec(seed=args.seed), progress=bar.update_to)
    print(f"msrec preprocess: {dataset.name} from {input_dir} -> {args.output}", flush=True)
    metadata = pipeline.run(
        dataset,
        input_dir,
        args.output,
        data,
        args.beam_args,
        args.num_shards,
        args.max_bad_fraction,
        show_progress=True,
    )
    progress.print_source_report(metadata["sources"])
    keys = ("users", "evaluated_users", "catalog_items", "train_examples", "test_split_sha256")
    print(json.dumps({k: metadata[k] for k in keys}))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    config = flags.training_config(args)
    from msrec.datadir import DataDir
    from trainer import task

    record = task.run(config, DataDir.open(args.data), args.model_dir)
    print(json.dumps({"model_dir": args.model_dir, **record}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from msrec.datadir import DataDir
    from trainer import artifacts, evaluate
    from trainer.scoring import Ranking

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


def _served(version_dir: str, data: Any, split: str) -> dict:
    """PROTOCOL.md metrics of an export, asked through ``recommend_user`` (``serving/evaluate.py``)."""
    from serving import evaluate as served
    from trainer import evaluate

    return served.evaluate(version_dir, evaluate.held_out(data, split))


def _card_data_dir(version_dir: str) -> str:
    from msrec import signatures as S

    card = S.model_card(version_dir)
    if not os.path.exists(card) and "://" not in card:
        raise errors.NoModel(f"{version_dir} has no model card ({S.MODEL_CARD}); pass --data", version_dir)
    with open(card, encoding="utf-8") as f:
        return json.load(f)["data"]["data_dir"]


def cmd_export(args: argparse.Namespace) -> int:
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
    served = artifacts.served(model, data, args.new_items, args.block_items)
    serving = _serving(config.serving, args)
    try:
        path = export.export(model, ranking, serving, served, args.export_base, card, gate.run, bless)
    except blessing.NotBlessed as err:
        print(json.dumps({"rejected": err.comparison}), file=sys.stderr)
        return 3
    print(json.dumps({"export": path}))
    return 0


def _serving(serving: msrec_config.ServingConfig, args: argparse.Namespace) -> msrec_config.ServingConfig:
    """The config's serving section with the export flags that were given."""
    given = {
        "top_k": args.k,
        "embeddings": args.embeddings,
        "brute_force_below": args.brute_force_below,
        "partitions": args.partitions,
        "probes": args.probes,
    }
    return dataclasses.replace(serving, **{key: value for key, value in given.items() if value is not None})


def _data_card(data: Any) -> dict:
    """What the model card records of the data (a ``DataDir``): where, which split, which versions."""
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    meta = data.metadata
    keys = (
        "dataset",
        "test_split_sha256",
        "feature_spec_version",
        "users",
        "catalog_items",
        "train_interactions",
    )
    versions = {
        "msrec": msrec.__version__,
        "tensorflow": tf.__version__,
        "tensorflow_recommenders": tfrs.__version__,
    }
    return {"data_dir": data.path, **{k: meta.get(k) for k in keys}, "versions": versions}


def cmd_batch_predict(args: argparse.Namespace) -> int:
    from serving import batch_inference

    report = batch_inference.run(
        args.model,
        args.input,
        args.output,
        args.input_format,
        args.output_format,
        args.k,
        args.beam_args,
        num_shards=args.num_shards,
        min_batch_size=args.min_batch_size,
        max_batch_size=args.max_batch_size,
        max_bad_fraction=args.max_bad_fraction,
        overwrite=args.overwrite,
    )
    print(json.dumps(report, sort_keys=True))
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from msrec.app import experiments

    config = flags.config(args.config, args.set)
    workdir = args.workdir or os.path.join("runs", "benchmark", args.dataset)
    input_dir = _resolve_input(args.dataset, args.input)
    tune_minutes = args.budget_minutes if args.tune else None
    result = experiments.benchmark(
        args.dataset, input_dir, workdir, config, args.seeds, tune_minutes=tune_minutes
    )
    _write_json(args.output, result)
    progress.print_metrics({"msrec (mean)": result["test"], "MostPopular": result["popularity"]})
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from msrec.app import tune

    base = flags.config(args.config, args.set)
    from msrec.datadir import DataDir

    workdir = args.workdir or os.path.join("runs", "tune")
    result = tune.run(DataDir.open(args.data), workdir, base, args.budget_minutes)
    path = tune.write(result, args.output_dir)
    print(tune.markdown(result))
    print(json.dumps({"tuned_config": path, "overrides": result["overrides"]}))
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from msrec.app import experiments

    config = flags.config(args.config, args.set)
    workdir = args.workdir or os.path.join("runs", "ablation", args.dataset)
    rows = experiments.ablation(args.dataset, _resolve_input(args.dataset, args.input), workdir, config)
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


HANDLERS = {
    "generate": cmd_generate,
    "preprocess": cmd_preprocess,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "export": cmd_export,
    "serve": server_commands.serve,
    "batch-predict": cmd_batch_predict,
    "recommend": server_commands.recommend,
    "benchmark": cmd_benchmark,
    "ablation": cmd_ablation,
    "tune": cmd_tune,
    "demo": cmd_demo,
}
