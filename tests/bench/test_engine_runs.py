"""bench/engine_batch.py and bench/processes.py: how one engine's batch rows are held against the
DirectRunner's, and which processes a measured run counts."""

import json
import os
import subprocess
import sys

import pytest

from bench import common, engine_batch, processes


def _write(folder, rows, name="part-00000-of-00001.jsonl"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def _row(user, items, scores):
    return {"user_id": user, "item_ids": items, "scores": scores}


def test_batch_rows_are_equal_in_any_order_and_sharding_within_the_score_tolerance(tmp_path):
    direct, other = tmp_path / "direct", tmp_path / "prism"
    _write(direct, [_row("u1", ["a", "b"], [2.0, 1.0]), _row("u2", ["b", "c"], [3.0, 0.5])])
    _write(other, [_row("u2", ["b", "c"], [3.0, 0.500001])], "part-00000-of-00002.jsonl")
    _write(other, [_row("u1", ["a", "b"], [2.0, 1.0])], "part-00001-of-00002.jsonl")
    _write(other, [{"line": "x", "reason": "unknown user"}], "part-dead_letter-00000-of-00001.jsonl")
    assert engine_batch.same_rows(direct, other) == "equal (scores within 1e-06)"


def test_other_items_a_missing_row_or_a_far_score_are_different(tmp_path):
    direct = tmp_path / "direct"
    _write(direct, [_row("u1", ["a", "b"], [2.0, 1.0]), _row("u2", ["b", "c"], [3.0, 0.5])])
    swapped, missing, far = tmp_path / "swapped", tmp_path / "missing", tmp_path / "far"
    _write(swapped, [_row("u1", ["b", "a"], [2.0, 1.0]), _row("u2", ["b", "c"], [3.0, 0.5])])
    _write(missing, [_row("u1", ["a", "b"], [2.0, 1.0])])
    _write(far, [_row("u1", ["a", "b"], [2.0, 1.0]), _row("u2", ["b", "c"], [3.0, 0.6])])
    assert (
        engine_batch.same_rows(direct, swapped)
        == "DIFFERENT: 1 of 2 rows (the DirectRunner's: 2), scores within 0.0e+00"
    )
    assert (
        engine_batch.same_rows(direct, missing)
        == "DIFFERENT: 0 of 1 rows (the DirectRunner's: 2), scores within 0.0e+00"
    )
    assert engine_batch.same_rows(direct, far).startswith("DIFFERENT: 0 of 2 rows")


def test_a_measured_run_counts_the_services_trees_beside_its_own():
    service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert {os.getpid(), service.pid} <= processes.descendants([os.getppid()])
        assert processes.descendants([service.pid]) == {service.pid}
        total, largest = processes.sample([service.pid])
        assert total == pytest.approx(common.tree_rss_mb(service.pid), abs=2.0)  # read the other way
        assert largest >= total - 2.0  # the high-water mark is never below what is resident now
        assert total > 5.0  # MB: an interpreter, not an empty reading
    finally:
        service.kill()
        service.wait()
