"""Training benchmark: examples per second of the input pipeline alone, of training, and per source.

On a preprocessed data directory (or, without ``--data``, the default synthetic dataset preprocessed into
``--workdir``) it measures, after a warm-up, (a) ``trainer.data.dataset`` alone: the batches ``trainer.task``
trains on (TRAIN + VALIDATION when refitting, shuffled, query and candidate features), iterated and
discarded; (b) ``model.fit`` of the model ``trainer.artifacts.build`` makes, compiled as ``trainer.task``
does; (c) the ratio (a) / (b), which must stay well above 1 for the input never to be the bottleneck.
Then the step cost of each source set of the ablation (id; id + one source; all). It prints markdown,
writes a bar chart and replaces the "## Training" section of ``--docs``.

    python bench/train.py --steps 300 --batch-size 256
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import resource
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from bench import common  # noqa: E402

# isort: off
import tensorflow as tf  # noqa: E402

from msrec import config as msrec_config  # noqa: E402
from msrec import features as F  # noqa: E402
from msrec.app import experiments  # noqa: E402
from msrec.datadir import DataDir  # noqa: E402
from trainer import artifacts, data  # noqa: E402

# isort: on


@dataclasses.dataclass
class Timing:
    name: str
    sources: tuple[str, ...]
    steps: int
    seconds: float
    examples: int

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / self.steps

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds


def train_dataset(source: DataDir, config: msrec_config.Config) -> tf.data.Dataset:
    """Exactly what ``trainer.task.run`` feeds ``model.fit``, repeated so any step count fits."""
    splits = ("train", "validation") if config.train.refit else "train"
    features = F.select(source.contract, F.QUERY, F.CANDIDATE)
    batches = data.dataset(
        source, splits, features, config.train.batch_size, config.train.shuffle_buffer, config.train.seed
    )
    return batches.repeat()


def input_pipeline(source: DataDir, config: msrec_config.Config, steps: int, warmup: int) -> Timing:
    """Iterates the training input alone: parse, densify, batch; nothing consumes it."""
    batches = iter(train_dataset(source, config))
    for _ in range(warmup):  # fills the shuffle buffer and starts the parallel readers
        next(batches)
    examples, started = 0, time.perf_counter()
    for _ in range(steps):
        examples += int(tf.shape(next(batches)[F.ITEM_ID])[0])
    return Timing("input pipeline", config.model.sources, steps, time.perf_counter() - started, examples)


class StepClock(tf.keras.callbacks.Callback):
    """Times the steps after the first ``warmup`` ones (which include tracing) of one ``fit``."""

    def __init__(self, warmup: int):
        super().__init__()
        self.warmup, self.marks = warmup, {}

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if batch == self.warmup - 1:
            self.marks["start"] = time.perf_counter()
        self.marks["end"] = time.perf_counter()


def training(source: DataDir, config: msrec_config.Config, steps: int, warmup: int, name: str) -> Timing:
    """``model.fit`` for ``warmup + steps`` steps; the last ``steps`` are timed."""
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(config.train.seed)
    model = artifacts.build(source, config)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.train.learning_rate))
    clock = StepClock(warmup)
    batches = train_dataset(source, config)
    model.fit(batches, epochs=1, steps_per_epoch=warmup + steps, callbacks=[clock], verbose=0)
    seconds = clock.marks["end"] - clock.marks["start"]
    return Timing(name, config.model.sources, steps, seconds, steps * config.train.batch_size)


def summary_table(pipeline: Timing, train: Timing) -> str:
    ratio = pipeline.examples_per_second / train.examples_per_second
    return "\n".join([
        "| measured | examples/s | ms per batch |",
        "|---|---:|---:|",
        f"| (a) input pipeline alone | {pipeline.examples_per_second:,.0f} | {pipeline.ms_per_step:.1f} |",
        f"| (b) training (`model.fit`) | {train.examples_per_second:,.0f} | {train.ms_per_step:.1f} |",
        f"| (c) = (a) / (b) | {ratio:.1f}x | |",
    ])  # fmt: skip


def source_table(rows: list[Timing]) -> str:
    base = rows[0].ms_per_step
    lines = ["| sources | ms/step | examples/s | vs id only |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.name} (`{','.join(r.sources)}`) | {r.ms_per_step:.1f} | {r.examples_per_second:,.0f} "
            f"| {r.ms_per_step / base:.2f}x |"
        )
    return "\n".join(lines)


def plot(rows: list[Timing], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.8))
    bars = axis.barh([r.name for r in rows][::-1], [r.ms_per_step for r in rows][::-1], color="C0")
    axis.bar_label(bars, fmt="%.1f ms", fontsize=8, padding=3)
    axis.set(xlabel="ms per training step", title="msrec train: step cost per source set")
    axis.margins(x=0.15)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def describe(source: DataDir) -> str:
    meta = source.metadata
    sizes = meta["vocabulary_sizes"]
    return (
        f"`{meta['dataset']}` data: {meta['train_examples']:,} TRAIN + {meta['validation_examples']:,} "
        f"VALIDATION examples, {sizes['user_id']:,} users, {sizes['item_id']:,} items"
    )


def write_docs(args, config, pipeline: Timing, train: Timing, rows: list[Timing]) -> None:
    os.makedirs(args.plot_dir, exist_ok=True)
    png = os.path.join(args.plot_dir, "training_sources.png")
    plot(rows, png)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = config.model
    body = f"""```
{args.command}
```

{common.machine(f"TensorFlow {tf.__version__}")}

{describe(args.data)}; batch size {config.train.batch_size}, {args.steps} timed steps after
{args.warmup} warm-up steps (tracing, the shuffle buffer); embedding {model.embedding_dim},
hidden {list(model.hidden_dims)}, {model.transformer_layers} transformer layer(s) over the last
{model.sequence_length} history events.

(a) iterates `trainer.data.dataset` exactly as `trainer.task` builds it (TRAIN + VALIDATION when
refitting, shuffle buffer {config.train.shuffle_buffer}, the query and candidate features) and discards
the batches; (b) times `model.fit` of `trainer.artifacts.build`'s model, compiled as `trainer.task`
does, with sources `{",".join(model.sources)}`; during (b) the input pipeline shares the cores with the
model. Peak RSS of the benchmark process: {peak:,.0f} MB.

{summary_table(pipeline, train)}

Step cost per source set (same data, batch and steps; every set includes the id embeddings):

{source_table(rows)}

![training step cost per source set]({common.relative_link(png, args.docs)})
"""
    common.write_section(args.docs, "Training", body)
    print(f"wrote {args.docs} and {png}", file=sys.stderr)


def prepare(args: argparse.Namespace) -> DataDir:
    """``--data``, or the default synthetic dataset preprocessed into ``--workdir`` (reused if there)."""
    if args.data:
        return DataDir.open(args.data)
    workdir = args.workdir or tempfile.mkdtemp(prefix="msrec-bench-train-")
    print(f"preprocessing the default synthetic dataset into {workdir}", file=sys.stderr, flush=True)
    return experiments.prepare("synthetic", None, workdir, msrec_config.DataConfig())


def run(args: argparse.Namespace) -> tuple[Timing, Timing, list[Timing]]:
    args.data = prepare(args)
    sets = [f"model.sources={args.sources}", f"train.batch_size={args.batch_size}"]
    config = msrec_config.override(msrec_config.Config(), sets + args.set)
    pipeline = input_pipeline(args.data, config, args.steps, args.warmup)
    print(f"input pipeline: {pipeline.examples_per_second:,.0f} examples/s", file=sys.stderr, flush=True)
    train = training(args.data, config, args.steps, args.warmup, "training")
    print(f"training: {train.examples_per_second:,.0f} examples/s", file=sys.stderr, flush=True)
    rows = []
    for name, parts in experiments.ABLATION:
        variant = msrec_config.override(config, [f"model.sources={','.join(parts)}"])
        same = tuple(parts) == config.model.sources
        rows.append(train if same else training(args.data, variant, args.steps, args.warmup, name))
        rows[-1] = dataclasses.replace(rows[-1], name=name)
        print(f"{name}: {rows[-1].ms_per_step:.1f} ms/step", file=sys.stderr, flush=True)
    print(summary_table(pipeline, train), source_table(rows), sep="\n\n")
    write_docs(args, config, pipeline, train, rows)
    return pipeline, train, rows


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = msrec_config.Config()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="a preprocessed data directory (default: preprocess the synthetic one)")
    p.add_argument("--workdir", help="where the default dataset is preprocessed (default: a temp dir)")
    p.add_argument("--steps", type=int, default=300, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps before each measurement")
    p.add_argument("--batch-size", type=int, default=defaults.train.batch_size)
    p.add_argument("--sources", default=",".join(defaults.model.sources), help="of the headline model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    p.add_argument("--plot-dir", default=str(REPO / "docs"))
    args = p.parse_args(argv)
    args.command = common.command_line("train.py", argv)
    return args


def main(argv: list[str] | None = None) -> int:
    run(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
