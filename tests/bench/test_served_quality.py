"""bench/served_quality.py on the tiny corpus: three exports of one model, scored as served."""

import json

from bench import served_quality as quality
from msrec.app import cli


def test_every_partition_probed_serves_the_exact_metrics_and_int8_is_measured(tiny_data, tmp_path, capsys):
    model = str(tmp_path / "model")
    train = ["train", "--data", tiny_data, "--model-dir", model, "--epochs", "1"]
    assert cli.main([*train, "--set", "model.sources=id,content,item_graph"]) == 0
    argv = ["--model-dir", model, "--workdir", str(tmp_path / "work"), "--output", str(tmp_path / "q.json")]
    report = quality.main([*argv, "--partitions", "3", "--probes", "3", "--split", "validation"])
    assert set(report["served"]) == {"exact", "partitioned", "int8"}
    assert report["served"]["partitioned"]["retrieval"]["mode"] == "partitioned"
    assert report["served"]["int8"]["retrieval"]["embeddings"] == "int8"
    # Probing every partition is brute force in other words: the same lists, the same metrics.
    for metric in quality.METRICS:
        assert report["served"]["partitioned"][metric] == report["served"]["exact"][metric]
        assert report["change"]["partitioned"][metric] == 0.0
    assert json.load(open(tmp_path / "q.json"))["change"] == report["change"]
    table = capsys.readouterr().out
    assert "| partitioned | partitioned, 3 / 3, float32 |" in table and "within 1.0%: met" in table
