"""The ``msrec`` command: one entry point for every stage.

Each subcommand parses its flags here and calls one pure ``run``-style function
of its stage; nothing else in msrec reads flags or the environment. Flags it does
not know are passed to Beam (``preprocess``) as pipeline options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import msrec
from msrec.app import errors, quiet
from msrec.app.commands import (
    DATA_ENV,
    cmd_ablation,
    cmd_batch_predict,
    cmd_benchmark,
    cmd_demo,
    cmd_evaluate,
    cmd_export,
    cmd_generate,
    cmd_preprocess,
    cmd_recommend,
    cmd_serve,
    cmd_train,
    cmd_tune,
)


def parser() -> argparse.ArgumentParser:
    from trainer import task

    p = argparse.ArgumentParser(prog="msrec", description=__doc__.split("\n")[0] + " See README.md.")
    p.add_argument("--version", action="version", version=f"msrec {msrec.__version__}")
    p.add_argument(
        "--verbose", action="store_true", help="show TensorFlow, Beam and absl start-up logs and warnings"
    )
    p.add_argument("--debug", action="store_true", help="show the traceback of an expected failure too")
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
    pp.add_argument(
        "--num-shards",
        type=int,
        default=0,
        help="TFRecord shards per output (default 0: the runner decides, and records stream to disk)",
    )
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

    e = sub.add_parser(
        "evaluate",
        help="PROTOCOL.md metrics on the full catalog, beside MostPopular; of a trained model "
        "(--model-dir), of an export through its signatures as TF Serving answers (--export), or both",
    )
    e.add_argument("--model-dir", help="trained model directory")
    e.add_argument(
        "--export",
        help="an exported version DIR/<version>/: load it as TF Serving does and ask recommend_user "
        "for every held-out user",
    )
    e.add_argument(
        "--data", help="data directory (default: the one the model was trained on / exported from)"
    )
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
    x.add_argument(
        "--new-items",
        help="JSONL of items the model has never seen (item_id, title, categories, tags, description): "
        "added to this version's catalogue without retraining, embedded by the model's text encoder",
    )

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
        ("ablation", "train and evaluate ids alone, ids + each source, and all, as docs/ablation-*"),
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
            x.add_argument(
                "--tune",
                action="store_true",
                help="run msrec tune on VALIDATION first (--budget-minutes) and refit with its choice",
            )
            x.add_argument("--budget-minutes", type=float, default=30.0, help="tuning budget (default 30)")
            x.add_argument("--output", required=True, help="result JSON (key 'test': mean over seeds)")
        else:
            x.add_argument(
                "--output-dir", default="docs", help="where the table, JSON and PNG go (default docs)"
            )

    tn = sub.add_parser(
        "tune",
        help="search temperature, embedding size, epochs, learning rate, the sequence part and the "
        "ranking mix on VALIDATION (Optuna) within a time budget; writes a config for --config",
    )
    tn.add_argument("--data", required=True, help="preprocessed data directory")
    tn.add_argument("--config", help="base config file (default: the shipped defaults)")
    tn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    tn.add_argument("--budget-minutes", type=float, default=30.0, help="wall-clock budget (default 30)")
    tn.add_argument("--workdir", help="where trial models go (default runs/tune)")
    tn.add_argument("--output-dir", required=True, help="where tuned.json, trials.json and trials.md go")

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
    verbose = "--verbose" in argv  # anywhere: `msrec --verbose export ...` or `msrec export ... --verbose`
    debug = "--debug" in argv  # likewise
    quiet.configure(verbose)
    argv = [a for a in argv if a not in ("--verbose", "--debug")]
    if not verbose and argv[:1] != ["generate"] and not {"-h", "--help"} & set(argv):
        quiet.start_tensorflow()
    try:
        return _command(argv)
    except Exception as err:  # an expected failure becomes one paragraph (msrec/app/errors.py)
        status = errors.report(err, debug)
        if status is None:
            raise
        return status


def _command(argv: list[str]) -> int:
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
        "tune": cmd_tune,
        "ablation": cmd_ablation,
        "demo": cmd_demo,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
