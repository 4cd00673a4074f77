"""The same pipeline under the multi-process DirectRunner writes the same data."""

import glob
import json
import os

import pytest
import tensorflow as tf

from msrec import config, paths
from msrec import source_config as sources
from preprocessing import pipeline


def _records(data_dir):
    out = {}
    for name in (*paths.SPLITS, paths.USERS, paths.CANDIDATES):
        files = glob.glob(os.path.join(data_dir, name, "*.tfrecord.gz"))
        examples = (tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, "GZIP"))
        # Proto map order is not fixed on the wire: compare deterministic encodings.
        out[name] = sorted(e.SerializeToString(deterministic=True) for e in examples)
    return out


@pytest.mark.slow
def test_multi_processing_runner_matches_the_in_memory_runner(tiny_data, tiny_raw, tmp_path):
    out = str(tmp_path / "mp")
    meta = pipeline.run(
        sources.preset("synthetic"),
        tiny_raw,
        out,
        config.DataConfig(),
        shards=1,
        pipeline_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )
    reference = json.load(open(os.path.join(tiny_data, paths.METADATA)))
    for key in ("test_split_sha256", "train_examples", "vocabulary_sizes", "statistics"):
        assert meta[key] == reference[key]
    assert _records(out) == _records(tiny_data)
    for name in ("item_id", "user_id", "category", "token"):
        assert open(paths.vocab_file(out, name)).read() == open(paths.vocab_file(tiny_data, name)).read()
