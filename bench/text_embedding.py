"""Item-text embedding in preprocessing: throughput and cache hit rate of ``EmbedItemText``.

Runs the whole preprocessing pipeline (``preprocessing.pipeline.run``, DirectRunner) on each public
dataset twice with one fresh, temporary vector cache: the first run embeds every text, the second
should read every vector from the cache. It reports the ``text_embedding`` entry of each run's
``metadata.json``: items, texts embedded, cache hits and hit rate, the step's worker seconds (cache
reads and writes, encoder load, encoding) and items per second, beside the pipeline's wall time. The
scoring graph's regression is capped at 2,000 items, as in ``tests/preprocessing/test_real_data.py``,
so that it does not dominate. It prints a markdown table and writes nothing outside a temporary
directory.

    MSREC_DATA_DIR=/work/shared/data python bench/text_embedding.py --datasets movielens-100k,lastfm-2k
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import msrec  # noqa: E402,F401 - selects Keras 2 before TensorFlow loads
from bench import common  # noqa: E402

# isort: off
from msrec import config  # noqa: E402
from msrec import source_config as sources  # noqa: E402
from preprocessing import pipeline  # noqa: E402

# isort: on


def measure(name: str, data_dir: str, cache: str, out: str) -> tuple[dict, float]:
    """The ``text_embedding`` metadata of one pipeline run, and the run's wall seconds."""
    data = config.DataConfig(regression_max_items=2000, text_cache=cache)
    started = time.perf_counter()
    meta = pipeline.run(sources.preset(name), os.path.join(data_dir, name), out, data)
    return meta["text_embedding"], time.perf_counter() - started


def _row(name: str, run: str, entry: dict, wall: float) -> str:
    cells = [name, run, f"{entry['items']:,}", f"{entry['embedded']:,}", f"{entry['cache_hits']:,}"]
    cells += [f"{entry['hit_rate']:.3f}", f"{entry['seconds']:.1f}", f"{entry['items_per_second']:,.0f}"]
    return "| " + " | ".join(cells + [f"{wall:.0f}"]) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="movielens-100k,lastfm-2k")
    parser.add_argument(
        "--data-dir", default=os.environ.get("MSREC_DATA_DIR", ""), help="default $MSREC_DATA_DIR"
    )
    args = parser.parse_args(argv)
    rows = [
        "| dataset | run | items | embedded | cache hits | hit rate | step seconds | items/s | pipeline s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    load = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            cache = os.path.join(tmp, name, "cache")
            for run in ("cold cache", "warm cache"):
                load.append(os.getloadavg()[0])
                entry, wall = measure(name, args.data_dir, cache, os.path.join(tmp, name, run.split()[0]))
                rows.append(_row(name, run, entry, wall))
    print(
        common.machine(f"1-minute load average {min(load):.1f} to {max(load):.1f} at the runs' starts") + "\n"
    )
    print(common.command_line("text_embedding.py", sys.argv[1:] if argv is None else argv) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
