"""bench/workers.py: the workers' TF_CONFIGs and how two workers' run is read against one's."""

import json

from bench import workers


def test_two_workers_share_one_cluster_and_one_worker_has_none():
    assert workers.tf_configs(1) == [None]
    configs = [json.loads(c) for c in workers.tf_configs(2)]
    assert configs[0]["cluster"] == configs[1]["cluster"] and len(configs[0]["cluster"]["worker"]) == 2
    assert [c["task"] for c in configs] == [{"type": "worker", "index": 0}, {"type": "worker", "index": 1}]
    assert len(set(configs[0]["cluster"]["worker"])) == 2  # two ports


def _result(count, seconds, curve):
    run = {"seconds": seconds - 5, "epochs": list(range(1, len(curve) + 1)), workers.METRIC: curve}
    run["best_epoch"] = curve.index(max(curve)) + 1
    return {
        "workers": count,
        "seconds": seconds,
        "peak_mb": 1500,
        "run": run,
        "same_loss": True,
        "commit": "abc",
    }


def test_the_summary_compares_the_best_validation_epochs_and_wall_times():
    one, two = _result(1, 100.0, [0.10, 0.20, 0.19]), _result(2, 150.0, [0.12, 0.21, 0.22])
    assert workers.summary(one, two) == (
        "Two workers reach a best val_NDCG@10 of 0.2200 against one worker's 0.2000 (+10.0%), "
        "in 1.50x its wall time."
    )
    assert workers.row(two) == "| 2 | 150.0 | 145.0 | 3 | 0.2200 (epoch 3) | 0.2200 | 1,500 MB | abc |  |"
    failed = {"workers": 2, "seconds": 60.0, "note": "failed (exit [1, 1])"}
    assert workers.summary(one, failed).startswith("Not compared")
    assert workers.row(failed) == "| 2 | > 60 | - | - | - | - | - | - | failed (exit [1, 1]) |"
