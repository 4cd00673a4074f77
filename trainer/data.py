"""tf.data input: TFRecords of tf.Example -> batches of dense feature dicts.

Parsing and padding come from the feature contract recorded in the data
directory's ``metadata.json``, so the trainer always reads what preprocessing wrote.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import paths

log = logging.getLogger(__name__)


def metadata(data_dir: str) -> dict[str, Any]:
    paths.require_complete(data_dir)
    with tf.io.gfile.GFile(paths.join(data_dir, paths.METADATA)) as f:
        return json.load(f)


def contract(data_dir: str) -> tuple[F.Feature, ...]:
    return F.from_dict(metadata(data_dir)["features"])


def dataset(
    data_dir: str,
    name: str | tuple[str, ...],
    features: tuple[F.Feature, ...],
    batch_size: int,
    shuffle_buffer: int = 0,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of ``name`` records (splits, ``candidates`` or ``users``), densified."""
    names = (name,) if isinstance(name, str) else name
    files = sorted(f for n in names for f in tf.io.gfile.glob(paths.records_glob(data_dir, n)))
    if not files:
        raise FileNotFoundError(f"no records for {names} under {data_dir}")
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    spec = F.parse_spec(features)
    ds = ds.batch(batch_size, drop_remainder=False)
    options = tf.data.Options()
    # Workers split records, not files: a small dataset may have fewer files than workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options).map(
        lambda b: F.densify(tf.io.parse_example(b, spec), features),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def load_all(data_dir: str, name: str, features: tuple[F.Feature, ...], batch_size: int = 4096) -> dict:
    """All records of ``name`` as one dict of numpy arrays (ragged eval features as lists)."""
    parts: dict[str, list] = {f.name: [] for f in features}
    for batch in dataset(data_dir, name, features, batch_size):
        for f in features:
            value = batch[f.name]
            parts[f.name].extend(value.to_list() if isinstance(value, tf.RaggedTensor) else value.numpy())
    return {
        f.name: parts[f.name] if not f.is_padded and f.kind != F.SCALAR else np.asarray(parts[f.name])
        for f in features
    }


def read_lines(path: str) -> list[str]:
    with tf.io.gfile.GFile(path) as f:
        return [line for line in f.read().split("\n") if line]


def item_popularity(data_dir: str) -> dict[str, int]:
    """TRAIN interaction count per item id."""
    ids = read_lines(paths.vocab_file(data_dir, F.ITEM_VOCAB))
    counts = read_lines(paths.item_counts_file(data_dir))
    return dict(zip(ids, map(int, counts), strict=True))


def scoring_graph(data_dir: str, refit: bool = False) -> dict[str, list[tuple[str, float]]]:
    """Per item, its sources in the item scoring graph and their weights (``preprocessing/graphs.py``).

    ``refit``: the graph over TRAIN + VALIDATION, for a model refit on both; data preprocessed without
    it (``data.regression_refit=false``, or an older msrec) has only the TRAIN graph, which is then used
    (and said in the log).
    """
    if refit:
        files = tf.io.gfile.glob(paths.join(data_dir, paths.SCORING_GRAPH_REFIT, "part-*.jsonl"))
        if files:
            return _read_graph(files)
        log.warning(
            "%s has no %s/ (preprocessed with data.regression_refit=false or by an older msrec): the refit "
            "model scores with the TRAIN graph; preprocess again for the graph over TRAIN + VALIDATION",
            data_dir,
            paths.SCORING_GRAPH_REFIT,
        )
    files = tf.io.gfile.glob(paths.join(data_dir, paths.SCORING_GRAPH, "part-*.jsonl"))
    if not files:
        raise FileNotFoundError(
            f"{data_dir} has no {paths.SCORING_GRAPH}/: it was preprocessed by an older msrec; "
            "run `msrec preprocess` again (or set model.graph_score_weight=0)"
        )
    return _read_graph(files)


def _read_graph(files: list[str]) -> dict[str, list[tuple[str, float]]]:
    graph = {}
    for path in files:
        for line in read_lines(path):
            item, sources = json.loads(line)
            graph[item] = [(source, float(weight)) for source, weight in sources]
    return graph
