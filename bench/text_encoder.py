"""Text encoder benchmark: speed of msrec.text's core-TF all-MiniLM-L6-v2 and size of its SavedModel.

Builds ``msrec.text.SentenceEncoder`` on the default checkpoint, embeds ``--titles`` synthetic movie
titles ("Word Word (1987)") in batches of each ``--batch-sizes`` (titles sorted by length, each batch
padded to its longest, as ``SentenceEncoder.embed`` does), times one title through the ``tf.function``
and through the reloaded SavedModel's ``text_embedding`` signature, and reports the SavedModel's size and
op types. It prints a markdown table and writes no file outside a temporary directory.

    python bench/text_encoder.py --titles 2000 --batch-sizes 1,16,64,256
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from bench import common  # noqa: E402

# isort: off
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from msrec.text import encoder as encoders  # noqa: E402

# isort: on

_WORDS = (
    "story night dark return lost city love war star king dead house blue time last man girl ghost "
    "river summer secret road heart world fire little big american paris shadow dream iron wild"
).split()


def titles(count: int, seed: int = 0) -> list[str]:
    """``count`` title-like strings of 1-5 words and a year."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(_WORDS, rng.integers(1, 6))).title() + f" ({rng.integers(1920, 2024)})"
        for _ in range(count)
    ]


def median_ms(call, seconds: float) -> float:
    """Median milliseconds of ``call()`` over repeats filling about ``seconds`` (at least 5)."""
    call()
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def throughput(model: encoders.SentenceEncoder, texts: list[str], batch_size: int) -> float:
    """Titles per second of ``model.embed`` at ``batch_size`` (after one warm-up batch)."""
    model.embed(texts[:batch_size], batch_size)
    start = time.perf_counter()
    model.embed(texts, batch_size)
    return len(texts) / (time.perf_counter() - start)


def saved_model_rows(model: encoders.SentenceEncoder, title: str, seconds: float) -> list[str]:
    """Size, op types and one-title latency of the exported SavedModel, as table rows."""
    with tempfile.TemporaryDirectory() as tmp:
        path = encoders.export(model, pathlib.Path(tmp) / "1")
        size = sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file()) / 2**20
        serve = tf.saved_model.load(path).signatures[encoders.SIGNATURE]
        one = tf.constant([title])
        latency = median_ms(lambda: serve(text=one), seconds)
        ops = _op_types(path)
    return [
        f"| SavedModel size | {size:.1f} MB |",
        f"| SavedModel op types | {len(ops)} (none outside core TF) |",
        f"| one title, reloaded SavedModel signature | {latency:.1f} ms |",
    ]


def _op_types(path: str) -> set[str]:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString(pathlib.Path(path, "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    names = {function.signature.name for function in graph.library.function}
    ops = {node.op for node in graph.node}
    ops |= {node.op for function in graph.library.function for node in function.node_def}
    return ops - names


def main(argv: list[str] | None = None) -> None:
    """Runs the measurements and prints the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=2000)
    parser.add_argument("--batch-sizes", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each latency")
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the bundled one)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model = encoders.SentenceEncoder(args.checkpoint)
    load_s = time.perf_counter() - start
    texts = titles(args.titles)
    rows = ["| measure | value |", "| --- | --- |", f"| build encoder (tables + weights) | {load_s:.1f} s |"]
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        rows.append(f"| titles/s, batches of {batch_size} | {throughput(model, texts, batch_size):.0f} |")
    one = tf.constant([texts[0]])
    rows.append(
        f"| one title, `encode` tf.function | {median_ms(lambda: model.encode(one), args.seconds):.1f} ms |"
    )
    rows += saved_model_rows(model, texts[0], args.seconds)
    print(common.machine(f"TensorFlow {tf.__version__}") + "\n")
    print(f"{args.titles} synthetic titles such as {texts[0]!r}; max_length {model.max_length}.\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
