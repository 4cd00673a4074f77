"""Progress lines of a preprocessing run: milestones, each file's end, the long steps."""

import re

from msrec import config
from msrec import source_config as sources
from preprocessing import pipeline, progress


def test_milestones_are_one_two_five_times_a_power_of_ten_from_100000():
    hits = [n for n in range(1, 2_000_001) if progress.due(n)]
    assert hits == [100_000, 200_000, 500_000, 1_000_000, 2_000_000]


def test_a_run_says_what_it_reads_and_fits_with_the_time_elapsed(tiny_raw, tmp_path, capfd):
    data = config.override(config.Config(), ["data.text_encoder=none"]).data
    pipeline.run(
        sources.preset("synthetic"), tiny_raw, str(tmp_path / "out"), data, shards=1, show_progress=True
    )
    lines = capfd.readouterr().err.splitlines()
    said = [line for line in lines if line.startswith("msrec preprocess [")]
    assert all(re.match(r"msrec preprocess \[\d\d:\d\d\] ", line) for line in said)
    text = "\n".join(said)
    assert "interactions: interactions.csv read, 14 parsed rows" in text  # 14 rows, none bad
    assert "items: items.jsonl read, 7 parsed rows" in text
    assert "scoring graph: EASE^R over" in text and "scoring graph: fitted in" in text
    assert said[0].endswith("(DirectRunner)") and said[-1].endswith("pipeline finished; writing metadata")


def test_a_run_without_progress_prints_nothing(tiny_raw, tmp_path, capfd):
    data = config.override(config.Config(), ["data.text_encoder=none"]).data
    pipeline.run(sources.preset("synthetic"), tiny_raw, str(tmp_path / "out"), data, shards=1)
    assert "msrec preprocess [" not in capfd.readouterr().err
