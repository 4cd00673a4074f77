"""tf.data input: TFRecords of tf.Example -> batches of dense feature dicts.

Parsing and padding come from the feature contract recorded in the data
directory's ``metadata.json`` (``msrec.datadir.DataDir``), so the trainer always reads what
preprocessing wrote.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec.datadir import DataDir


def dataset(
    data: DataDir,
    name: str | tuple[str, ...],
    features: tuple[F.Feature, ...],
    batch_size: int,
    shuffle_buffer: int = 0,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of ``name`` records (splits, ``candidates`` or ``users``), densified."""
    files = data.records(*((name,) if isinstance(name, str) else name))
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


def load_all(data: DataDir, name: str, features: tuple[F.Feature, ...], batch_size: int = 4096) -> dict:
    """All records of ``name`` as one dict of numpy arrays (ragged eval features as lists)."""
    parts: dict[str, list] = {f.name: [] for f in features}
    for batch in dataset(data, name, features, batch_size):
        for f in features:
            value = batch[f.name]
            parts[f.name].extend(value.to_list() if isinstance(value, tf.RaggedTensor) else value.numpy())
    return {
        f.name: parts[f.name] if not f.is_padded and f.kind != F.SCALAR else np.asarray(parts[f.name])
        for f in features
    }
