"""The preprocessing pipeline: raw multi-source files -> TFRecords, vocabularies, metadata.

``build`` chains five named composites, each in the module of its idea:

    ReadSources (sources)   files --parse, de-duplicate, check references--> records; dead_letter/
    Content (content)       items + item_tags (+ tag_names), users -> items with their most used tags,
                            user profiles, keyed by id
    Split (split)           interactions -> one Timeline per user, and packed batches of them
    Graphs (graphs)         TRAIN item counts, item co-occurrence graph, social graph,
                            EASE^R scoring graph(s) (scoring_graph)
    Encode (encode)         -> train/validation/test examples, users, candidates, item_text
    Write (outputs)         -> record folders, scoring_graph(_refit)/, vocab/, item_counts.txt, stats.json

then, on the driver, ``run`` writes metadata.json and the _SUCCESS marker. ``run`` takes Beam
pipeline options unchanged, so the same code runs on the DirectRunner, Dataflow, Flink or Spark.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from msrec import auto, paths
from msrec import config as msrec_config
from msrec import features as F
from msrec.source_config import DatasetSpec, resolve
from preprocessing import item_text, progress, scoring_graph, stats, text_encoder
from preprocessing.content import JoinContent
from preprocessing.encode import EncodeRecords
from preprocessing.errors import BadSourceError, check_report  # noqa: F401 (re-exported)
from preprocessing.graphs import BuildGraphs
from preprocessing.outputs import WriteOutputs
from preprocessing.rows import NAMESPACE
from preprocessing.sources import ReadSources, check_source
from preprocessing.split import SplitByUser

log = logging.getLogger(__name__)


def build(
    p: beam.Pipeline,
    dataset: DatasetSpec,
    input_dir: str,
    output_dir: str,
    data: msrec_config.DataConfig,
    shards: int,
    clock: progress.Clock | None = None,
) -> None:
    """Adds every step to ``p``; writes a ``stats.json`` the driver turns into metadata.

    ``clock``: the long steps print progress lines (``preprocessing/progress.py``); None: silent.
    """
    dead_letters = paths.join(output_dir, paths.DEAD_LETTER)
    records = p | "ReadSources" >> ReadSources(dataset.sources, input_dir, dead_letters, clock)
    content = records | "Content" >> JoinContent(data.lengths.tags)
    by_user = records["interactions"] | "Split" >> SplitByUser()
    edges = {kind: records[kind] for kind in ("social", "item_tags") if kind in records}
    graphs = {**by_user, "items": content["items"], **edges} | "Graphs" >> BuildGraphs(data, clock)
    near = {"item_graph": graphs["item_graph"], "social_graph": graphs["social_graph"]}
    encoded = {**by_user, **content, **near} | "Encode" >> EncodeRecords(data, clock)
    outputs = {"records": encoded, "graphs": graphs, "timelines": by_user["timelines"], **content}
    outputs | "Write" >> WriteOutputs(output_dir, data, shards)


def counters(result: Any) -> dict[str, int]:
    """The run's ``msrec.preprocess`` counters by name, summed over steps (committed, else attempted)."""
    counts: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        counts[c.key.metric.name] = counts.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return counts


def source_report(counters: dict[str, int], kinds: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per source, from the run's ``counters``: read = valid + dead-lettered, and dead letters by reason."""
    report = {}
    for kind in kinds:
        reasons = {
            name.rsplit(".", 1)[1]: n
            for name, n in counters.items()
            if name.startswith(f"{kind}.dead_letter.")
        }
        report[kind] = {
            "read": counters.get(f"{kind}.read", 0),
            "valid": counters.get(f"{kind}.valid", 0),
            "dead_letter": counters.get(f"{kind}.dead_letter", 0),
            "reasons": dict(sorted(reasons.items())),
        }
    return report


def run(
    dataset: DatasetSpec,
    input_dir: str,
    output_dir: str,
    data: msrec_config.DataConfig,
    pipeline_args: Sequence[str] = (),
    shards: int = 0,
    max_bad_fraction: float = 1.0,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Runs the pipeline to completion and writes ``metadata.json`` and ``_SUCCESS``.

    Raises:
      MissingSourceError / EmptySourceError (``preprocessing.errors``): before any work, a
        configured source matches no file or only empty ones; after the run, a source has no row.
      BadSourceError: a source's dead-letter fraction exceeds ``max_bad_fraction``, or no
        interaction is valid. Every error carries the source, its file and, after the run, the report.

    ``show_progress``: print progress lines to stderr as the long steps go (``msrec preprocess``).
    """
    # Absolute: a portable runner's workers need not run in this process's working directory.
    input_dir, output_dir = paths.absolute(input_dir), paths.absolute(output_dir)
    for kind, spec in dataset.sources.items():
        check_source(kind, spec, input_dir)
    timed = "timestamp" in dataset.source("interactions").fields
    data, resolved = auto.resolve_data(data, timed)
    started = time.time()
    clock = progress.Clock(started) if show_progress else None
    p = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    build(p, dataset, input_dir, output_dir, data, shards, clock)
    if clock is not None:
        runner = p.options.view_as(StandardOptions).runner or "DirectRunner"
        clock.say(f"reading {', '.join(dataset.sources)} ({runner})")
    result = p.run()
    result.wait_until_finish()
    if clock is not None:
        clock.say("pipeline finished; writing metadata")
    counts = counters(result)
    report = source_report(counts, list(dataset.sources))
    metadata = _metadata(dataset, input_dir, data, timed, resolved, report)
    metadata["seconds"] = round(time.time() - started, 1)
    with FileSystems.open(paths.join(output_dir, "stats.json")) as f:
        metadata.update(json.loads(f.read().decode("utf-8")))
    encoder = text_encoder.resolve(data)
    if encoder is not None:
        metadata["text_embedding"] = item_text.report(counts, encoder)
    _write_json(paths.join(output_dir, paths.METADATA), metadata)
    _write_statistics(output_dir, metadata)
    files = {kind: resolve(input_dir, spec) for kind, spec in dataset.sources.items()}
    check_report(report, files, max_bad_fraction, paths.join(output_dir, paths.DEAD_LETTER))
    _write_json(paths.join(output_dir, paths.SUCCESS), {"finished": time.time()})
    return metadata


def _metadata(
    dataset: DatasetSpec,
    input_dir: str,
    data: msrec_config.DataConfig,
    timed: bool,
    resolved: dict[str, Any],
    report: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """What ``metadata.json`` says of the run before the pipeline's own ``stats.json`` joins it.

    ``timed``: whether the interactions have times; ``resolved``: what ``auto`` made of that.
    """
    return {
        "dataset": dataset.name,
        "input": input_dir,
        "feature_spec_version": F.SPEC_VERSION,
        "features": F.to_dict(F.contract(data.lengths)),
        "data_config": msrec_config.to_dict(data),
        "scoring_graph": {
            "memory_gib": data.regression_memory_gib,
            "max_covered_items": scoring_graph.budget_items(
                data.regression_memory_gib, data.regression_max_items
            ),
        },
        # What the data is, for the trainer's auto settings (msrec/auto.py).
        "data_profile": {
            "timed": timed,
            "social": dataset.source("social") is not None,
            "resolved": resolved,
        },
        "sources": report,
    }


def _write_json(path: str, value: Any) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(value, indent=2, sort_keys=True).encode("utf-8"))


def _write_statistics(output_dir: str, metadata: dict[str, Any]) -> None:
    """``statistics.txt`` and ``statistics.png`` beside the metadata."""
    statistics = metadata.get("statistics", {})
    with FileSystems.create(paths.join(output_dir, "statistics.txt")) as f:
        f.write(stats.report(statistics, metadata).encode("utf-8"))
    if statistics and "://" not in output_dir:  # matplotlib writes local files only
        stats.plot(statistics, paths.join(output_dir, "statistics.png"))
