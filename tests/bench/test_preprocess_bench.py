"""bench/preprocess.py keeps every measured row: a rerun replaces its own sizes and modes only."""

import json
import pathlib

from bench import preprocess as bench  # noqa: E402


def row(size, mode, seconds, commit, stopped=None):
    run = bench.common.Measured(seconds, 0 if stopped is None else -9, 100.0, 90.0, stopped)
    return bench.Row(size, mode, run, note="n", commit=commit)


def test_merge_replaces_rerun_rows_and_keeps_the_rest(tmp_path):
    path = str(tmp_path / "runs.json")
    first = [
        row(10, "pandas", 1.0, "a"),
        row(10, "in_memory", 3.0, "a"),
        row(20, "in_memory", 9.0, "a", "guard"),
    ]
    assert [r.commit for r in bench.merge(path, first, fresh=False)] == ["a", "a", "a"]
    second = [
        row(20, "in_memory", 6.0, "b"),
        row(20, "pandas", 2.0, "b"),
        row(5, "multi_processing", 1.0, "b"),
    ]
    rows = bench.merge(path, second, fresh=False)
    assert [(r.size, r.mode, r.commit) for r in rows] == [
        (5, "multi_processing", "b"),
        (10, "pandas", "a"),
        (10, "in_memory", "a"),
        (20, "pandas", "b"),
        (20, "in_memory", "b"),
    ]
    saved = [bench.Row.load(r) for r in json.loads(pathlib.Path(path).read_text())]
    assert saved == rows and saved[4].run.ok and saved[4].run.seconds == 6.0
    assert "| 20 | in_memory | 6.0 |" in bench.table(rows) and "| 3.0x | b |" in bench.table(rows)
    assert [r.commit for r in bench.merge(path, second[:1], fresh=True)] == ["b"]
