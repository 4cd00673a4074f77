"""The ``msrec`` command line: one small builder per command, assembled by ``build``.

Nothing here imports TensorFlow or Beam, so ``msrec --help`` and ``msrec <command> --help``
answer at once. The training and batch jobs' flags come from ``msrec/flags.py``, which their
own entry points (``python -m trainer.task``, ``serving.batch_inference``) use as well; ``serve``
keeps the server's own flags (TF Serving's names), parsed by its own parser (``server_commands.parse``).
"""

from __future__ import annotations

import argparse

import msrec
from msrec import config as msrec_config
from msrec import flags

DATA_ENV = "MSREC_DATA_DIR"
DATASETS = ("synthetic", "movielens-100k", "lastfm-2k")
BEAM_EPILOG = (
    "Unknown flags are Beam pipeline options, e.g. --runner=DataflowRunner "
    "--direct_running_mode=multi_processing --direct_num_workers=2."
)


def generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", required=True, help="directory for the raw files")
    p.add_argument("--users", type=flags.positive_int, default=1000, help="number of users (default 1000)")
    p.add_argument("--items", type=flags.positive_int, default=600, help="number of items (default 600)")
    p.add_argument(
        "--interactions",
        type=flags.positive_int,
        default=40000,
        help="number of interactions (default 40000)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")


def preprocess(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=DATASETS, help="built-in preset")
    source.add_argument("--config", help="YAML source config of your own dataset (docs/sources.md)")
    p.add_argument(
        "--input", help=f"raw data directory (default ${DATA_ENV}/<dataset>; synthetic: generated)"
    )
    p.add_argument("--output", required=True, help="fresh output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    p.add_argument("--data-config", help="config file whose data section sets lengths and thresholds")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set data.lengths.history=20",
    )
    p.add_argument(
        "--num-shards",
        type=int,
        default=0,
        help="TFRecord shards per output (default 0: the runner decides, and records stream to disk)",
    )
    p.add_argument(
        "--max-bad-fraction",
        type=flags.fraction,
        default=0.05,
        help="fail when a source dead-letters more than this fraction of its rows (default 0.05)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated synthetic data")


def evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", help="trained model directory")
    p.add_argument(
        "--export",
        help="an exported version DIR/<version>/: load it as TF Serving does and ask recommend_user "
        "for every held-out user",
    )
    p.add_argument(
        "--data", help="data directory (default: the one the model was trained on / exported from)"
    )
    p.add_argument("--output", required=True, help="metrics JSON file to write")
    p.add_argument("--split", default="test", choices=["validation", "test"], help="held-out split")


def export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", required=True, help="trained model directory")
    p.add_argument("--export-base", required=True, help="model base path; a new <version>/ is added")
    p.add_argument("--data", help="data directory (default: the one the model was trained on)")
    p.add_argument(
        "--k", type=flags.positive_int, help="items returned per query (default: config model.top_k)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="blessing: publish only if validation NDCG@10 beats MostPopular and is at most this "
        "much (relative) below the published version's (default 0.02); else exit 3",
    )
    p.add_argument("--no-blessing", action="store_true", help="publish without the validation comparison")
    p.add_argument(
        "--new-items",
        help="JSONL of items the model has never seen (item_id, title, categories, tags, description): "
        "added to this version's catalogue without retraining, embedded by the model's text encoder",
    )
    p.add_argument(
        "--block-items",
        help="file of item ids, one per line: no signature of this version returns them (a new "
        "version with another list needs no retraining)",
    )
    retrieval = p.add_argument_group("retrieval and size (default: the config's serving section)")
    retrieval.add_argument(
        "--embeddings",
        choices=msrec_config.EMBEDDING_STORAGE,
        help="how the item vectors are stored: float32, float16, or int8 with a per-item scale",
    )
    retrieval.add_argument(
        "--brute-force-below",
        type=flags.non_negative_int,
        help="rank catalogues of fewer items whole, exactly (default 50000); larger ones are partitioned",
    )
    retrieval.add_argument(
        "--partitions",
        type=flags.positive_int,
        help="k-means partitions of the catalogue (default about 4 x sqrt(items)); given, any catalogue "
        "is partitioned",
    )
    retrieval.add_argument(
        "--probes", type=flags.positive_int, help="partitions each request scores (default 160)"
    )


def serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("server_argv", nargs=argparse.REMAINDER)


def recommend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", required=True, help="HOST:PORT of the gRPC (or, with --rest, REST) API")
    p.add_argument("--model_name", required=True, help="served model name")
    p.add_argument("--user_id", required=True, help="raw user id as in the source data")
    p.add_argument("--k", type=flags.positive_int, default=10, help="how many items to print (default 10)")
    p.add_argument("--rest", action="store_true", help="use the REST API instead of gRPC")
    p.add_argument(
        "--explain",
        action="store_true",
        help="say why each item: the history items behind it and a friend (recommend_user_explained)",
    )
    rules = p.add_argument_group("filters (recommend_user_filtered; repeat a flag for several values)")
    for flag, what in (
        ("--include-item", "choose only among these item ids"),
        ("--exclude-item", "never return this item id"),
        ("--include-attribute", "only items with one of these attributes, e.g. category:Drama or tag:rock"),
        ("--exclude-attribute", "no item with this attribute"),
    ):
        rules.add_argument(flag, action="append", default=[], metavar="VALUE", help=what)


def _experiment(p: argparse.ArgumentParser) -> None:
    """The flags benchmark and ablation share: which dataset, where it is, where runs go, the config."""
    p.add_argument("--dataset", required=True, help="synthetic, movielens-100k, lastfm-2k or a sources YAML")
    p.add_argument("--input", help=f"raw data directory (default ${DATA_ENV}/<dataset>)")
    p.add_argument("--workdir", help="where data and models go (default runs/<command>/<dataset>)")
    flags.add_config(p)


def benchmark(p: argparse.ArgumentParser) -> None:
    _experiment(p)
    p.add_argument("--seeds", type=flags.positive_int, default=3, help="training seeds (default 3)")
    p.add_argument(
        "--tune",
        action="store_true",
        help="run msrec tune on VALIDATION first (--budget-minutes) and refit with its choice",
    )
    p.add_argument("--budget-minutes", type=float, default=30.0, help="tuning budget (default 30)")
    p.add_argument("--output", required=True, help="result JSON (key 'test': mean over seeds)")


def ablation(p: argparse.ArgumentParser) -> None:
    _experiment(p)
    p.add_argument("--output-dir", default="docs", help="where the table, JSON and PNG go (default docs)")


def tune(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="preprocessed data directory")
    flags.add_config(p)
    p.add_argument("--budget-minutes", type=float, default=30.0, help="wall-clock budget (default 30)")
    p.add_argument("--workdir", help="where trial models go (default runs/tune)")
    p.add_argument("--output-dir", required=True, help="where tuned.json, trials.json and trials.md go")


def demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workdir", default="runs/demo", help="where the demo writes (replaced; default runs/demo)"
    )
    p.add_argument(
        "--epochs",
        type=flags.positive_int,
        default=4,
        help="training epochs (default 4: the demo's data needs no more; the config default is 8)",
    )


# name -> (builder, help, extra add_parser arguments), in the order ``msrec --help`` lists them.
COMMANDS = {
    "generate": (generate, "write the synthetic multi-source dataset's raw files", {}),
    "preprocess": (
        preprocess,
        "Beam pipeline: raw sources -> TFRecords, vocabularies, metadata",
        {"epilog": BEAM_EPILOG},
    ),
    "train": (flags.training, "train the two-tower model (same flags as python -m trainer.task)", {}),
    "evaluate": (
        evaluate,
        "PROTOCOL.md metrics on the full catalog, beside MostPopular; of a trained model "
        "(--model-dir), of an export through its signatures as TF Serving answers (--export), or both",
        {},
    ),
    "export": (export, "write a versioned SavedModel for TF Serving: DIR/<version>/", {}),
    "serve": (
        serve,
        "serve SavedModels over TF Serving's gRPC/REST APIs "
        "(flags as tensorflow_model_server: --port --rest_api_port --model_name --model_base_path)",
        {"add_help": False},
    ),
    "batch-predict": (
        flags.batch_prediction,
        "Beam RunInference job over an export: users or tf.Examples -> top-K as JSONL/TFRecord",
        {"epilog": BEAM_EPILOG, "allow_abbrev": False},
    ),
    "recommend": (recommend, "ask a running server for a user's top-K", {}),
    "benchmark": (benchmark, "preprocess -> train -> evaluate TEST over seeds, as in docs/results.md", {}),
    "ablation": (
        ablation,
        "train and evaluate ids alone, ids + each source, and all, as docs/ablation-*",
        {},
    ),
    "tune": (
        tune,
        "search temperature, embedding size, epochs, learning rate, the sequence part and the "
        "ranking mix on VALIDATION (Optuna) within a time budget; writes a config for --config",
        {},
    ),
    "demo": (demo, "generate -> preprocess -> train -> evaluate -> export -> serve -> recommend", {}),
}


def build() -> argparse.ArgumentParser:
    """The ``msrec`` parser: global flags, then one subparser per command."""
    p = argparse.ArgumentParser(prog="msrec", description="One entry point for every stage. See README.md.")
    p.add_argument("--version", action="version", version=f"msrec {msrec.__version__}")
    p.add_argument(
        "--verbose", action="store_true", help="show TensorFlow, Beam and absl start-up logs and warnings"
    )
    p.add_argument("--debug", action="store_true", help="show the traceback of an expected failure too")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (builder, helptext, options) in COMMANDS.items():
        builder(sub.add_parser(name, help=helptext, description=helptext, **options))
    return p
