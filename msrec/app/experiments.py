"""Reproducible experiments: the benchmark over seeds and the source ablation.

Both run the real stages (Beam preprocessing, the training job, PROTOCOL.md
evaluation on TEST) with the shipped defaults plus the dataset's documented
overrides, so a number in ``docs/`` is one command away from being re-measured.
"""

from __future__ import annotations

import json
import os
import statistics
from typing import Any, Sequence

from msrec import config as msrec_config
from msrec import metrics, paths
from msrec import source_config as sources
from msrec.app import progress
from msrec.datadir import DataDir

ABLATION = (
    ("id only", ("id",)),
    ("+ sequence", ("id", "sequence")),
    ("+ content", ("id", "content")),
    ("+ profile", ("id", "profile")),
    ("+ social", ("id", "social")),
    ("+ item graph", ("id", "item_graph")),
    ("+ text", ("id", "text")),  # the pretrained sentence encoder's vectors (and the cold-text term)
    ("all", msrec_config.SOURCES),
)
METRICS = metrics.MAIN


def prepare(dataset: str, input_dir: str | None, workdir: str, data: msrec_config.DataConfig) -> DataDir:
    """Preprocesses ``dataset`` into ``workdir/data`` once (later calls reuse it) and opens it."""
    import synthetic
    from preprocessing import pipeline

    data_dir = os.path.join(workdir, "data")
    if os.path.exists(os.path.join(data_dir, paths.SUCCESS)):
        return DataDir.open(data_dir)
    if input_dir is None:  # synthetic without --input: the default generated dataset
        input_dir = os.path.join(workdir, "raw")
        synthetic.generate(input_dir, synthetic.SyntheticSpec())
    pipeline.run(
        sources.preset(dataset) if dataset in sources.PRESETS else sources.load(dataset),
        input_dir,
        data_dir,
        data,
    )
    return DataDir.open(data_dir)


def finished(model_dir: str, config: msrec_config.Config) -> float | None:
    """The training seconds of a finished run of exactly ``config`` in ``model_dir``, else None."""
    try:
        with open(paths.model_config(model_dir), encoding="utf-8") as f:
            same = json.load(f) == msrec_config.to_dict(config)
        with open(paths.model_run(model_dir), encoding="utf-8") as f:
            return json.load(f)["seconds"] if same else None
    except (OSError, KeyError, ValueError):
        return None


def train_and_test(
    config: msrec_config.Config, data: DataDir, model_dir: str, shown: progress.RunProgress | None = None
) -> dict[str, Any]:
    """One training run (reused if ``model_dir`` has a finished run of this config) and its TEST metrics."""
    from trainer import artifacts, evaluate, task
    from trainer.scoring import Ranking

    config, _ = data.resolve(config)  # as task.run saves it
    seconds = finished(model_dir, config)
    if seconds is None:
        hooks = (shown.epoch_callback(),) if shown else ()
        seconds = task.run(config, data, model_dir, verbose=0, extra_callbacks=hooks)["seconds"]
    if shown:
        shown.show(f"{shown.stage} · evaluate TEST")
    model, _, _ = artifacts.load(model_dir, data)
    result = evaluate.evaluate(model, Ranking.of(config.model), data, "test")
    result["seconds"] = seconds
    return result


def served(model_dir: str, data: DataDir, shown: progress.RunProgress | None = None) -> dict[str, Any]:
    """Exports the run (with the TF Serving gate) and scores the export through ``recommend_user``."""
    from modelserver import gate
    from serving import evaluate as served_evaluation
    from trainer import artifacts, evaluate, export
    from trainer.scoring import Ranking

    if shown:
        shown.show(f"{shown.stage} · export + evaluate served")
    model, config, _ = artifacts.load(model_dir, data)
    card = {"data": {"data_dir": data.path}}
    base = os.path.join(model_dir, "export")
    inputs = artifacts.served(model, data)
    version = export.export(model, Ranking.of(config.model), config.serving, inputs, base, card, gate.run)
    return served_evaluation.evaluate(version, evaluate.held_out(data, "test"))


def choose_mix(
    config: msrec_config.Config, data: DataDir, model_dir: str, shown: progress.RunProgress | None = None
) -> tuple[msrec_config.Config, list[dict[str, Any]]]:
    """``config`` with the ranking's mix chosen on VALIDATION (``trainer/mix.py``) and, where the
    validation run overfit, the refit stopped at the epoch it kept (``task.refit_overrides``)."""
    from trainer import artifacts, mix, task
    from trainer.scoring import Ranking

    resolved, _ = data.resolve(config)
    if "item_graph" not in resolved.model.sources:
        return config, []
    validation = msrec_config.override(config, ["train.refit=false", "train.seed=0"])
    if shown:
        shown.show("validation run · train")
    if finished(model_dir, data.resolve(validation)[0]) is None:
        hooks = (shown.epoch_callback(),) if shown else ()
        task.run(validation, data, model_dir, verbose=0, extra_callbacks=hooks)
    if shown:
        shown.show("validation run · choose the mix")
    model, trained, _ = artifacts.load(model_dir, data)
    chosen, table = mix.choose(model, Ranking.of(trained.model), data)
    stop = task.refit_overrides(artifacts.read_run(model_dir), validation.train.epochs)
    if shown:
        best = max(table, key=lambda r: r["NDCG@10"])
        shown.write(
            "ranking mix "
            + ", ".join(f"{k} {v:g}" for k, v in chosen.items())
            + f" (VALIDATION NDCG@10 {best['NDCG@10']:.4f} of {len(table)} candidates)"
            + (f"; refit: {stop[0]}, where the validation run overfit after it" if stop else "")
        )
    return msrec_config.override(config, mix.overrides(chosen) + stop), table


def mean_std(runs: Sequence[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = [k for k in (*metrics.AVERAGED, *metrics.BEYOND) if all(k in r for r in runs)]
    mean = {k: statistics.fmean(r[k] for r in runs) for k in keys}
    std = {k: statistics.pstdev(r[k] for r in runs) if len(runs) > 1 else 0.0 for k in keys}
    mean["num_users"] = runs[0]["num_users"]
    return mean, std


def benchmark(
    dataset: str,
    input_dir: str | None,
    workdir: str,
    config: msrec_config.Config,
    seeds: int,
    tune_minutes: float | None = None,
) -> dict[str, Any]:
    """PROTOCOL.md TEST metrics of the shipped defaults, mean and std over ``seeds`` seeds.

    Args:
      tune_minutes: when set, ``msrec tune`` runs first on VALIDATION for this long and the
        seeds refit with its choice; otherwise only the ranking's mix is chosen on VALIDATION.
    """
    shown = progress.RunProgress(f"benchmark {os.path.basename(dataset)}", seeds + 1)
    shown.show("preprocess")
    data = prepare(dataset, input_dir, workdir, config.data)
    tuning = None
    if tune_minutes is not None:
        from msrec.app import tune

        shown.show("tune")
        tuning = tune.run(data, os.path.join(workdir, "tune"), config, tune_minutes)
        config, mix_table = msrec_config.from_dict(msrec_config.Config, tuning["config"]), []
    else:
        config, mix_table = choose_mix(config, data, os.path.join(workdir, "model-validation"), shown)
    shown.step()
    runs = [_seed_run(config, seed, seeds, data, workdir, shown) for seed in range(seeds)]
    shown.close()
    mean, std = mean_std([r["model"] for r in runs])
    served_mean, _ = mean_std([r["served"] for r in runs])
    meta = data.metadata
    return {
        "dataset": dataset,
        "test": mean,
        "std": std,
        "seeds": [r["model"] for r in runs],
        # The exports, asked through recommend_user as TF Serving answers (serving/evaluate.py).
        "served": served_mean,
        "served_seeds": [r["served"] for r in runs],
        "served_minus_in_process": {k: served_mean[k] - mean[k] for k in ("HR@10", "NDCG@10")},
        "known_items_returned": sum(r["served"]["known_items_returned"] for r in runs),
        "popularity": runs[0]["popularity"],
        "segments": runs[0]["segments"],
        "train_seconds": [r["seconds"] for r in runs],
        "test_split_sha256": meta["test_split_sha256"],
        "config": msrec_config.to_dict(data.resolve(config)[0]),  # as the seeds trained
        "mix": mix_table,
        "tuning": tuning,  # VALIDATION metrics of each graph_score_weight; the best one is in config
    }


def _seed_run(
    config: msrec_config.Config,
    seed: int,
    seeds: int,
    data: DataDir,
    workdir: str,
    shown: progress.RunProgress,
) -> dict[str, Any]:
    """One benchmark seed: train, TEST in process and through the export's signatures."""
    shown.show(f"seed {seed + 1}/{seeds} · train")
    seeded = msrec_config.override(config, [f"train.seed={seed}"])
    model_dir = os.path.join(workdir, f"model-seed{seed}")
    result = train_and_test(seeded, data, model_dir, shown)
    result["served"] = served(model_dir, data, shown)
    shown.step()
    m, s = result["model"], result["served"]
    shown.write(
        f"seed {seed}: HR@10 {m['HR@10']:.4f} NDCG@10 {m['NDCG@10']:.4f} ({result['seconds']}s); "
        f"served HR@10 {s['HR@10']:.4f} NDCG@10 {s['NDCG@10']:.4f}, "
        f"known items returned {s['known_items_returned']}"
    )
    return result


def ablation_variants(config: msrec_config.Config) -> list[tuple[str, tuple[str, ...]]]:
    """``ABLATION``, plus the shipped source set when a dataset override makes it none of those."""
    shipped = tuple(config.model.sources)
    known = {frozenset(parts) for _, parts in ABLATION}
    return list(ABLATION) + ([] if frozenset(shipped) in known else [("shipped", shipped)])


def ablation(
    dataset: str,
    input_dir: str | None,
    workdir: str,
    config: msrec_config.Config,
) -> list[dict[str, Any]]:
    """TEST metrics of the model built with each combination of sources in ``ABLATION``."""
    shown = progress.RunProgress(f"ablation {os.path.basename(dataset)}", len(ABLATION) + 1)
    shown.show("preprocess")
    data = prepare(dataset, input_dir, workdir, config.data)
    config, _ = data.resolve(config)  # the shipped sources for this data
    variants = ablation_variants(config)
    shown.progress.total = len(variants)
    rows = []
    for number, (name, parts) in enumerate(variants, 1):
        shown.show(f"variant {number}/{len(variants)} ({name}) · train")
        # Seed 0 throughout, so the shipped variant is the benchmark's first run and is reused from it.
        variant = msrec_config.override(config, [f"model.sources={','.join(parts)}", "train.seed=0"])
        model_dir = os.path.join(workdir, "ablation-" + "-".join(parts))
        seed0 = os.path.join(workdir, "model-seed0")
        result = train_and_test(
            variant, data, seed0 if finished(seed0, variant) is not None else model_dir, shown
        )
        rows.append(
            {"variant": name, "sources": list(parts), **result["model"], "seconds": result["seconds"]}
        )
        shown.step()
        shown.write(
            f"{name:<14} HR@10 {result['model']['HR@10']:.4f} NDCG@10 {result['model']['NDCG@10']:.4f}"
        )
    shown.close()
    return rows


def ablation_markdown(dataset: str, rows: Sequence[dict[str, Any]]) -> str:
    base = rows[0]
    lines = [
        f"### {dataset}",
        "",
        "| variant | " + " | ".join(METRICS) + " | ΔNDCG@10 vs id only | seconds |",
        "|---" * (len(METRICS) + 3) + "|",
    ]
    for r in rows:
        delta = (r["NDCG@10"] - base["NDCG@10"]) / max(base["NDCG@10"], 1e-9)
        lines.append(
            f"| {r['variant']} | "
            + " | ".join(f"{r[k]:.4f}" for k in METRICS)
            + f" | {delta:+.1%} | {r['seconds']} |"
        )
    return "\n".join(lines) + "\n"


def ablation_plot(dataset: str, rows: Sequence[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = [r["variant"] for r in rows]
    for offset, key in ((-0.2, "HR@10"), (0.2, "NDCG@10")):
        ax.bar([i + offset for i in range(len(rows))], [r[key] for r in rows], width=0.4, label=key)
    ax.set_xticks(range(len(rows)), names, rotation=20, fontsize=8)
    ax.set_title(f"{dataset}: contribution of each source (TEST, PROTOCOL.md)", fontsize=9)
    ax.set_ylim(0, 1.25 * max(max(r["HR@10"], r["NDCG@10"]) for r in rows))  # room for the legend
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
