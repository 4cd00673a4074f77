"""A content baseline that needs no language model: TF-IDF of the items' text, nearest to the history.

Scores every catalog item by the cosine between its TF-IDF vector (scikit-learn, word unigrams
and bigrams, sublinear tf) and the mean TF-IDF vector of the user's known items, excludes the
known items and ranks the TEST item under PROTOCOL.md (``msrec.metrics``). The text is exactly
what msrec's sentence encoder embedded (the ``item_text/`` records), so beside msrec's cold slice
it shows the pretrained encoder's share. Prints JSON with the overall and the cold-slice
metrics (TEST items in neither TRAIN nor VALIDATION).

    python bench/content_baseline.py --data DATA_DIR [--output FILE.json]

Needs scikit-learn (``pip install scikit-learn``; a benchmark tool, not an msrec dependency).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from msrec import features as F  # noqa: E402
from msrec import metrics, paths  # noqa: E402


def texts(data_dir: str) -> dict[str, str]:
    """Item id -> the text msrec embedded for it."""
    import tensorflow as tf

    spec = F.parse_spec(F.text_records(0)[:2])
    out = {}
    for path in tf.io.gfile.glob(paths.records_glob(data_dir, paths.ITEM_TEXT)):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            parsed = tf.io.parse_single_example(record, spec)
            out[parsed[F.ITEM_ID].numpy().decode()] = parsed[F.ITEM_TEXT].numpy().decode()
    return out


def held_out(data_dir: str) -> tuple[list[str], list[str], list[list[str]]]:
    """TEST users' targets and known items, read like msrec's evaluation reads them."""
    import tensorflow as tf

    meta = json.loads(tf.io.gfile.GFile(paths.join(data_dir, paths.METADATA)).read())
    contract = F.by_name(F.from_dict(meta["features"]))
    wanted = [contract[F.ITEM_ID], contract[F.SEEN_ITEM_IDS]]
    targets, seen = [], []
    files = tf.io.gfile.glob(paths.records_glob(data_dir, "test"))
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024):
        parsed = tf.io.parse_example(batch, F.parse_spec(wanted))
        targets += [t.decode() for t in parsed[F.ITEM_ID].numpy()]
        seen += [[s.decode() for s in row] for row in parsed[F.SEEN_ITEM_IDS].to_list()]
    return targets, seen


def trained_items(data_dir: str) -> set[str]:
    """Items with TRAIN interactions (``item_counts.txt`` beside the item vocabulary)."""
    import tensorflow as tf

    ids = tf.io.gfile.GFile(paths.vocab_file(data_dir, F.ITEM_VOCAB)).read().split("\n")
    counts = tf.io.gfile.GFile(paths.item_counts_file(data_dir)).read().split("\n")
    return {i for i, c in zip(ids, counts, strict=False) if i and c and int(c) > 0}


def vectorize(documents: list[str]):
    """TF-IDF rows (scikit-learn; word unigrams and bigrams, sublinear tf), one per document."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1).fit_transform(documents)


def nearest(vectors, histories: list[list[int]]) -> np.ndarray:
    """``[len(histories), items]``: each item's cosine-like score to the mean row of each history."""
    empty = np.zeros((1, vectors.shape[1]))
    profile = np.vstack([np.asarray(vectors[h].mean(axis=0)) if h else empty for h in histories])
    return np.asarray(vectors @ profile.T).T


def evaluate(data_dir: str) -> dict:
    by_item = texts(data_dir)
    if not by_item:
        raise SystemExit(f"{data_dir} has no item_text/ records: preprocess with a text encoder")
    catalog = sorted(by_item)
    position = {item: i for i, item in enumerate(catalog)}
    vectors = vectorize([by_item[i] for i in catalog])
    targets, seen = held_out(data_dir)
    known_anywhere = {i for s in seen for i in s} | trained_items(data_dir)
    ranks, cold = [], []
    for start in range(0, len(targets), 256):
        rows = range(start, min(start + 256, len(targets)))
        history = [[position[i] for i in seen[r] if i in position] for r in rows]
        scores = nearest(vectors, history)
        ranks.append(metrics.ranks(scores, np.array([position[targets[r]] for r in rows]), history))
        cold += [targets[r] not in known_anywhere for r in rows]
    ranks = np.concatenate(ranks)
    cold = np.array(cold)
    return {
        "overall": metrics.summarize(ranks),
        "cold": metrics.summarize(ranks[cold]),
        "note": "cold: TEST items in neither TRAIN nor VALIDATION, as msrec evaluate's segment",
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a preprocessed msrec data directory")
    parser.add_argument("--output", help="JSON file to write (default: print only)")
    args = parser.parse_args(argv)
    result = evaluate(args.data)
    print(json.dumps(result, indent=2))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
