"""What the CLI shows people: progress bars (tqdm), the per-source report, metric tables."""

from __future__ import annotations

import sys
from typing import Any, Mapping, TextIO

import tqdm


class Bar(tqdm.tqdm):
    """A tqdm bar that also takes the done count (``update_to``), as generators report it."""

    def update_to(self, done: int, total: int | None = None) -> None:
        if total:
            self.total = total
        self.update(done - self.n)


def bar(label: str, total: int) -> Bar:
    return Bar(total=max(total, 1), desc=label, unit=" rows", unit_scale=True)


class RunProgress:
    """One line for a long experiment: stage, seed or variant, epoch, elapsed time (tqdm).

    ``step`` advances over the runs (one per seed or ablation variant); ``epoch_callback``
    gives a Keras callback that shows the epoch inside the current run.
    """

    def __init__(self, label: str, runs: int | None):
        self.progress = tqdm.tqdm(total=runs, desc=label, unit=" run", bar_format=_FORMAT)
        self.stage = ""

    def show(self, stage: str) -> None:
        self.stage = stage
        self.progress.set_postfix_str(stage, refresh=True)

    def step(self) -> None:
        self.progress.update(1)

    def epoch_callback(self) -> Any:
        import tensorflow as tf

        run = self

        class ShowEpoch(tf.keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                total = self.params.get("epochs", "?")
                run.progress.set_postfix_str(f"{run.stage} · epoch {epoch + 1}/{total}", refresh=True)

        return ShowEpoch()

    def write(self, line: str) -> None:
        self.progress.write(line)

    def close(self) -> None:
        self.progress.close()


_FORMAT = "{desc}: {n_fmt}/{total_fmt} runs |{bar:20}| {elapsed} elapsed, {remaining} left · {postfix}"


def print_source_report(report: Mapping[str, Mapping[str, Any]], stream: TextIO = sys.stdout) -> None:
    """read = valid + dead-lettered, per source, with the reasons."""
    print(f"{'source':<14}{'read':>10}{'valid':>10}{'dead':>8}  reasons", file=stream)
    for kind, r in report.items():
        reasons = ", ".join(f"{k}={v}" for k, v in r["reasons"].items()) or "-"
        print(f"{kind:<14}{r['read']:>10,}{r['valid']:>10,}{r['dead_letter']:>8,}  {reasons}", file=stream)


def print_metrics(systems: Mapping[str, Mapping[str, float]], stream: TextIO = sys.stdout) -> None:
    """One row per system, PROTOCOL.md's metrics as columns."""
    from msrec import metrics  # numpy: not for `msrec --help`

    keys = metrics.TABLE
    print(f"{'system':<14}" + "".join(f"{k:>13}" for k in keys) + f"{'users':>8}", file=stream)
    for name, m in systems.items():
        print(
            f"{name:<14}" + "".join(f"{m[k]:>13.4f}" for k in keys) + f"{m['num_users']:>8}",
            file=stream,
        )
