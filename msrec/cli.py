"""The ``msrec`` command: one entry point for every stage.

Each subcommand parses its flags here and calls one pure ``run``-style function
of its stage; nothing else in msrec reads flags or the environment. Flags it does
not know are passed to Beam (``preprocess``) as pipeline options.
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
from msrec import progress

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
    from preprocessing import synthetic

    spec = synthetic.SyntheticSpec(
        num_users=args.users, num_items=args.items, num_interactions=args.interactions, seed=args.seed
    )
    with progress.Bar("generate", spec.num_interactions) as bar:
        counts = synthetic.generate(args.output, spec, progress=bar.update)
    print(json.dumps({"output": args.output, **counts}))
    return 0


def cmd_preprocess(args: argparse.Namespace, beam_args: Sequence[str]) -> int:
    from msrec import sources
    from preprocessing import pipeline, synthetic

    dataset = sources.load(args.config) if args.config else sources.preset(args.dataset)
    input_dir = _resolve_input(dataset.name, args.input)
    _fresh_dir(args.output, args.overwrite)
    if input_dir is None:
        if "://" in args.output:
            raise SystemExit("msrec: generate the synthetic data locally (msrec generate) and pass --input")
        input_dir = os.path.join(args.output, "raw")
        with progress.Bar("generate synthetic", synthetic.SyntheticSpec().num_interactions) as bar:
            synthetic.generate(input_dir, synthetic.SyntheticSpec(seed=args.seed), progress=bar.update)
    defaults = args.data_config or _dataset_config(dataset.name)  # the dataset's documented overrides
    data = msrec_config.override(msrec_config.load(defaults), args.set).data
    print(f"msrec preprocess: {dataset.name} from {input_dir} -> {args.output}", flush=True)
    metadata = pipeline.run(
        dataset, input_dir, args.output, data, beam_args, args.num_shards, args.max_bad_fraction
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
    from trainer import task

    record = task.run(task.resolve_config(args), args.data, args.model_dir)
    print(json.dumps({"model_dir": args.model_dir, **record}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from trainer import artifacts, evaluate

    model, _, data_dir = artifacts.load(args.model_dir, args.data)
    result = evaluate.evaluate(model, data_dir, args.split)
    report = {
        **result["model"],
        "split": result["split"],
        "catalog_items": result["catalog_items"],
        "popularity": result["popularity"],
    }
    _write_json(args.output, report)
    progress.print_metrics({"msrec": result["model"], "MostPopular": result["popularity"]})
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from trainer import artifacts, blessing, export

    model, config, data_dir = artifacts.load(args.model_dir, args.data)
    card = {"config": msrec_config.to_dict(config), "data": _data_card(data_dir)}
    tolerance = None if args.no_blessing else args.tolerance
    try:
        path = export.export(model, data_dir, args.export_base, args.k or config.model.top_k, card, tolerance)
    except blessing.NotBlessed as err:
        print(json.dumps({"rejected": err.comparison}), file=sys.stderr)
        return 3
    print(json.dumps({"export": path}))
    return 0


def _data_card(data_dir: str) -> dict:
    """What the model card records of the data: where, which split, which versions."""
    with open(os.path.join(data_dir, "metadata.json"), encoding="utf-8") as f:
        meta = json.load(f)
    keys = (
        "dataset",
        "test_split_sha256",
        "feature_spec_version",
        "users",
        "catalog_items",
        "train_interactions",
    )
    return {"data_dir": data_dir, **{k: meta.get(k) for k in keys}, "msrec_version": msrec.__version__}


def cmd_serve(args: argparse.Namespace) -> int:
    from serving import server

    return server.main(args.server_argv)


def cmd_batch_predict(args: argparse.Namespace) -> int:
    from serving import batch_inference

    return batch_inference.main(args.job_argv)


def cmd_recommend(args: argparse.Namespace) -> int:
    from serving import client as clients

    cls = clients.RestClient if args.rest else clients.GrpcClient
    client = cls(args.server, args.model_name)
    try:
        out = client.predict({"user_id": [args.user_id]}, signature_name="recommend_user")
    finally:
        client.close()
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in out["item_ids"][0][: args.k]]
    print(
        json.dumps(
            {
                "user_id": args.user_id,
                "item_ids": ids,
                "scores": [round(float(s), 5) for s in out["scores"][0][: args.k]],
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
    from trainer import experiments

    workdir = args.workdir or os.path.join("runs", "benchmark", args.dataset)
    result = experiments.benchmark(
        args.dataset, _resolve_input(args.dataset, args.input), workdir, _experiment_config(args), args.seeds
    )
    _write_json(args.output, result)
    progress.print_metrics({"msrec (mean)": result["test"], "MostPopular": result["popularity"]})
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from trainer import experiments

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
    from msrec import demo

    return demo.run(args.workdir, epochs=args.epochs)


def parser() -> argparse.ArgumentParser:
    from trainer import task

    p = argparse.ArgumentParser(prog="msrec", description=__doc__.split("\n")[0] + " See README.md.")
    p.add_argument("--version", action="version", version=f"msrec {msrec.__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="write the synthetic multi-source dataset's raw files")
    g.add_argument("--output", required=True, help="directory for the raw files")
    g.add_argument("--users", type=int, default=1000, help="number of users (default 1000)")
    g.add_argument("--items", type=int, default=600, help="number of items (default 600)")
    g.add_argument("--interactions", type=int, default=40000, help="number of interactions (default 40000)")
    g.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")

    pp = sub.add_parser(
        "preprocess",
        help="Beam pipeline: raw sources -> TFRecords, vocabularies, metadata",
        epilog="Unknown flags are Beam pipeline options, e.g. --runner=DataflowRunner "
        "--direct_running_mode=multi_processing --direct_num_workers=2.",
    )
    src = pp.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--dataset", choices=["synthetic", "movielens-100k", "lastfm-2k"], help="built-in preset"
    )
    src.add_argument("--config", help="YAML source config of your own dataset (docs/sources.md)")
    pp.add_argument(
        "--input", help=f"raw data directory (default ${DATA_ENV}/<dataset>; synthetic: generated)"
    )
    pp.add_argument("--output", required=True, help="fresh output directory")
    pp.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    pp.add_argument("--data-config", help="config file whose data section sets lengths and thresholds")
    pp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set data.lengths.history=20",
    )
    pp.add_argument("--num-shards", type=int, default=2, help="TFRecord shards per output (default 2)")
    pp.add_argument(
        "--max-bad-fraction",
        type=float,
        default=0.05,
        help="fail when a source dead-letters more than this fraction of its rows (default 0.05)",
    )
    pp.add_argument("--seed", type=int, default=0, help="seed of the generated synthetic data")

    t = sub.add_parser(
        "train",
        parents=[task.parser()],
        add_help=False,
        conflict_handler="resolve",
        help="train the two-tower model (same code as python -m trainer.task)",
    )
    t.add_argument("-h", "--help", action="help", help="show this help message and exit")

    e = sub.add_parser("evaluate", help="PROTOCOL.md metrics on the full catalog, beside MostPopular")
    e.add_argument("--model-dir", required=True, help="trained model directory")
    e.add_argument("--data", help="data directory (default: the one the model was trained on)")
    e.add_argument("--output", required=True, help="metrics JSON file to write")
    e.add_argument("--split", default="test", choices=["validation", "test"], help="held-out split")

    x = sub.add_parser("export", help="write a versioned SavedModel for TF Serving: DIR/<version>/")
    x.add_argument("--model-dir", required=True, help="trained model directory")
    x.add_argument("--export-base", required=True, help="model base path; a new <version>/ is added")
    x.add_argument("--data", help="data directory (default: the one the model was trained on)")
    x.add_argument("--k", type=int, help="items returned per query (default: config model.top_k)")
    x.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="blessing: publish only if validation NDCG@10 beats MostPopular and is at most this "
        "much (relative) below the published version's (default 0.02); else exit 3",
    )
    x.add_argument("--no-blessing", action="store_true", help="publish without the validation comparison")

    s = sub.add_parser(
        "serve",
        add_help=False,
        help="serve SavedModels over TF Serving's gRPC/REST APIs "
        "(flags as tensorflow_model_server: --port --rest_api_port --model_name --model_base_path)",
    )
    s.add_argument("server_argv", nargs=argparse.REMAINDER)

    b = sub.add_parser(
        "batch-predict",
        add_help=False,
        help="Beam RunInference job over an export: users or tf.Examples -> top-K as JSONL/TFRecord "
        "(--model --input --output; see msrec batch-predict --help)",
    )
    b.add_argument("job_argv", nargs=argparse.REMAINDER)

    r = sub.add_parser("recommend", help="ask a running server for a user's top-K")
    r.add_argument("--server", required=True, help="HOST:PORT of the gRPC (or, with --rest, REST) API")
    r.add_argument("--model_name", required=True, help="served model name")
    r.add_argument("--user_id", required=True, help="raw user id as in the source data")
    r.add_argument("--k", type=int, default=10, help="how many items to print (default 10)")
    r.add_argument("--rest", action="store_true", help="use the REST API instead of gRPC")

    experiments = (
        ("benchmark", "preprocess -> train -> evaluate TEST over seeds, as in docs/results.md"),
        ("ablation", "train and evaluate each combination of sources, as docs/ablation-*"),
    )
    for name, helptext in experiments:
        x = sub.add_parser(name, help=helptext)
        x.add_argument(
            "--dataset", required=True, help="synthetic, movielens-100k, lastfm-2k or a sources YAML"
        )
        x.add_argument("--input", help=f"raw data directory (default ${DATA_ENV}/<dataset>)")
        x.add_argument("--workdir", help="where data and models go (default runs/<command>/<dataset>)")
        x.add_argument(
            "--config", help="config file (default: msrec/presets/<dataset>.model.yaml if shipped)"
        )
        x.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
        )
        if name == "benchmark":
            x.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
            x.add_argument("--output", required=True, help="result JSON (key 'test': mean over seeds)")
        else:
            x.add_argument(
                "--output-dir", default="docs", help="where the table, JSON and PNG go (default docs)"
            )

    d = sub.add_parser(
        "demo", help="generate -> preprocess -> train -> evaluate -> export -> serve -> recommend"
    )
    d.add_argument(
        "--workdir", default="runs/demo", help="where the demo writes (replaced; default runs/demo)"
    )
    d.add_argument(
        "--epochs",
        type=int,
        default=4,
        help="training epochs (default 4: the demo's data needs no more; the config default is 8)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # serve's flags are the server's own (TF Serving names)
        return cmd_serve(argparse.Namespace(server_argv=argv[1:]))
    if argv[:1] == ["batch-predict"]:  # the job's own flags, and Beam's
        return cmd_batch_predict(argparse.Namespace(job_argv=argv[1:]))
    args, unknown = parser().parse_known_args(argv)
    if args.command == "preprocess":
        return cmd_preprocess(args, unknown)
    if unknown:
        parser().error(f"unrecognized arguments: {' '.join(unknown)}")
    handlers = {
        "generate": cmd_generate,
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "export": cmd_export,
        "recommend": cmd_recommend,
        "benchmark": cmd_benchmark,
        "ablation": cmd_ablation,
        "demo": cmd_demo,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
