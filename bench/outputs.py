"""Do two ``msrec preprocess`` outputs hold the same data? Used to hold one engine's run against the
DirectRunner's (``bench/engines.py compare``, ``tests/bench/test_engines.py``).

Files that an engine shards or orders as it likes are compared as sorted sets of parsed records:
TFRecords as deterministic ``tf.train.Example`` encodings (proto map order is not fixed on the wire),
JSON-lines files (scoring graphs, dead letters) as sorted lines. Files the driver writes in one piece
(vocabularies, item counts) must be equal byte for byte, and ``metadata.json`` equal but for what a
clock measured.
"""

from __future__ import annotations

import glob
import json
import os

from msrec import paths

RECORDS = (*paths.SPLITS, paths.USERS, paths.CANDIDATES, paths.ITEM_TEXT)
LINES = (paths.SCORING_GRAPH, paths.SCORING_GRAPH_REFIT, paths.DEAD_LETTER)
# Measured by a clock or naming where the run read from, not data.
TIMED = {"seconds", "input", "text_embedding.seconds", "text_embedding.items_per_second"}


def records(folder: str) -> list[bytes]:
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(folder, f"*{paths.TFRECORD_SUFFIX}")))
    raw = tf.data.TFRecordDataset(files, "GZIP") if files else []
    return sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True) for r in raw)


def lines(folder: str) -> list[str]:
    return sorted(line for path in glob.glob(os.path.join(folder, "*.jsonl")) for line in open(path))


def _flat(value, prefix: str = "") -> dict:
    if not isinstance(value, dict):
        return {prefix: value}
    out = {}
    for key, inner in value.items():
        out.update(_flat(inner, f"{prefix}.{key}" if prefix else key))
    return out


def metadata_differences(a: str, b: str) -> list[str]:
    left, right = (_flat(json.load(open(os.path.join(d, paths.METADATA)))) for d in (a, b))
    keys = sorted((left.keys() | right.keys()) - TIMED)
    return [f"metadata {k}: {left.get(k)!r} != {right.get(k)!r}" for k in keys if left.get(k) != right.get(k)]


def _plain_files(data_dir: str) -> set[str]:
    vocab = {os.path.relpath(p, data_dir) for p in glob.glob(os.path.join(data_dir, "vocab", "*.txt"))}
    return vocab | {"item_counts.txt"}


def compare(a: str, b: str) -> list[str]:
    """The differences between data directories ``a`` and ``b``, one sentence each; empty if equal."""
    differences = metadata_differences(a, b)
    for name in sorted(_plain_files(a) | _plain_files(b)):
        left, right = (os.path.join(d, name) for d in (a, b))
        if not (os.path.exists(left) and os.path.exists(right)):
            differences.append(f"{name} is in only one of them")
        elif open(left, "rb").read() != open(right, "rb").read():
            differences.append(f"{name} differs")
    for name in RECORDS:
        left, right = records(os.path.join(a, name)), records(os.path.join(b, name))
        if left != right:
            differences.append(f"{name}/: {len(left)} and {len(right)} records, not the same set")
    for name in LINES:
        left, right = lines(os.path.join(a, name)), lines(os.path.join(b, name))
        if left != right:
            differences.append(f"{name}/: {len(left)} and {len(right)} lines, not the same set")
    return differences
