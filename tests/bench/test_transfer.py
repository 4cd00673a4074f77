"""bench/transfer.py: every row on msrec's split, margins against the best peer; results.py keeps it."""

import json

import pytest

from bench import results, transfer


def metrics(hr, ndcg):
    return {"HR@10": hr, "NDCG@10": ndcg, "HR@20": hr * 1.5, "NDCG@20": ndcg * 1.2, "MRR": ndcg * 0.9}


def msrec(hr, ndcg, split="abc", served_gap=0.0):
    return {
        "test": metrics(hr, ndcg),
        "seeds": [metrics(hr, ndcg)],
        "served_minus_in_process": {"HR@10": served_gap, "NDCG@10": 0.0},
        "test_split_sha256": split,
        "config": {
            "model": {"sources": ["id", "sequence"], "graph_score_weight": 10.0},
            "train": {"epochs": 12, "stop_after": 4},
        },
        "train_seconds": [12.5],
        "known_items_returned": 0,
    }


PEERS = {
    "fingerprint": "abc",
    "users_evaluated": 100,
    "catalog": 50,
    "train_interactions": 900,
    "systems": {
        "MostPopular": {"params": {"counts": "train+validation"}, "test": metrics(0.02, 0.01)},
        "ItemKNN": {"params": {"k": 10}, "test": metrics(0.10, 0.05)},
        "EASE^R": {"params": {"lambda": 250.0}, "test": metrics(0.08, 0.06)},
    },
}


def test_rows_and_margins_against_the_best_peer_per_metric():
    sasrec = {"test": metrics(0.09, 0.04), "test_split_sha256": "abc"}
    found = transfer.rows(msrec(0.12, 0.066), msrec(0.11, 0.03, served_gap=0.01), PEERS, {"SASRec": sasrec})
    labels = [label for label, _ in found]
    assert labels == [
        "msrec (defaults, 1 seed(s), served equal)",
        "msrec (tuned, 1 seed(s), served differs by 0.0100)",
        "MostPopular",
        "ItemKNN (k=10)",
        "EASE^R (lambda=250)",
        "SASRec",
    ]
    text = transfer.section(msrec(0.12, 0.066), None, PEERS, found)
    # HR@10's best peer is ItemKNN (0.10), NDCG@10's is EASE^R (0.06): +20.0 % and +10.0 %.
    assert "| msrec (defaults) | HR@10 | 0.1000 (ItemKNN (k=10)) | +20.0% |" in text
    assert "| msrec (defaults) | NDCG@10 | 0.0600 (EASE^R (lambda=250)) | +10.0% |" in text
    assert "| msrec (tuned) | NDCG@10 | 0.0600 (EASE^R (lambda=250)) | -50.0% |" in text
    assert "| **0.1200** | **0.0660** |" in text  # the best NDCG@10 row is bold
    assert "msrec (tuned): not run." in text
    assert "graph_score_weight 10; refit 4 of 12 epochs;" in text


def test_a_result_carried_over_from_an_earlier_commit_says_so():
    found = transfer.rows(msrec(0.12, 0.066) | {"commit": "91288d2"}, None, PEERS, {})
    assert found[0][0] == "msrec (defaults, 1 seed(s), served equal, at 91288d2)"


@pytest.mark.parametrize("where", ["peers", "tuned", "extra", "extra without a fingerprint"])
def test_a_row_on_another_split_is_refused(where):
    peers = {**PEERS, "fingerprint": "zzz"} if where == "peers" else PEERS
    tuned = msrec(0.1, 0.05, split="zzz") if where == "tuned" else None
    extra = {}
    if where.startswith("extra"):
        extra["SASRec"] = {"test": metrics(0.1, 0.05)}
        if where == "extra":
            extra["SASRec"]["test_split_sha256"] = "zzz"
    with pytest.raises(transfer.SplitMismatch):
        transfer.rows(msrec(0.12, 0.066), tuned, peers, extra)


def test_results_py_keeps_the_transfer_sections(tmp_path):
    path = tmp_path / "results.md"
    path.write_text(
        "# Results\n\n## lastfm-2k\n\nold\n\n## Transfer: toy\n\n| a |\n\n## Where we stand\n\nx\n"
    )
    assert results.kept_sections(str(path)) == ["## Transfer: toy\n\n| a |\n"]
    assert results.kept_sections(str(tmp_path / "missing.md")) == []


def test_the_record_adds_a_later_row_without_running_the_others(tmp_path):
    work, docs, record = tmp_path / "work", tmp_path / "results.md", tmp_path / "transfer-toy.json"
    work.mkdir()
    for what, result in (("defaults", msrec(0.12, 0.066)), ("tuned", msrec(0.11, 0.05)), ("peers", PEERS)):
        (work / f"{what}.json").write_text(json.dumps(result))  # a finished step is not run again
    (work / "tuned" / "data").mkdir(parents=True)
    common = ["--dataset", "toy.yaml", "--input", "raw", "--docs", str(docs), "--record", str(record)]
    assert transfer.main(common + ["--workdir", str(work), "--commit", "abc1234"]) == 0
    assert "SASRec" not in docs.read_text()

    sasrec = tmp_path / "sasrec.json"
    sasrec.write_text(json.dumps({"test": metrics(0.09, 0.04), "test_split_sha256": "abc"}))
    empty = tmp_path / "elsewhere"  # no step JSON here: every msrec and peer row comes from the record
    later = ["--workdir", str(empty), "--from-record", "--extra", f"SASRec={sasrec}"]
    assert transfer.main(common + later) == 0
    text = docs.read_text()
    assert "| msrec (defaults, 1 seed(s), served equal, at abc1234) | **0.1200** | **0.0660** |" in text
    assert "| msrec (tuned, 1 seed(s), served equal, at abc1234) | 0.1100 | 0.0500 |" in text
    assert "| SASRec | 0.0900 | 0.0400 |" in text
    assert "--workdir" in text and "--from-record" in text  # the command that ran the rows, and this one
    assert list(json.loads(record.read_text())["extra"]) == ["SASRec"]
    assert [p.name for p in empty.glob("*.json")] == ["summary.json"]  # no step ran there
    with pytest.raises(SystemExit, match="no record .*missing.json; run once without it"):
        transfer.main(common[:-1] + [str(tmp_path / "missing.json")] + later)


def _segment(users, hr, ndcg):
    return {"num_users": users, "HR@10": hr, "NDCG@10": ndcg}


def test_history_segments_stand_beside_the_best_peer_that_has_them():
    systems = {
        "MostPopular": {"test": metrics(0.02, 0.01)},  # a peers.py JSON from before segments: skipped
        "ItemKNN": {"test": metrics(0.10, 0.05), "segments": {"users: 3-5": _segment(40, 0.2, 0.1)}},
        "EASE^R": {
            "test": metrics(0.08, 0.06),
            "segments": {"users: >20": _segment(60, 0.1, 0.05), "users: 3-5": _segment(40, 0.05, 0.02)},
        },
    }
    peer = results.best_with_segments(systems)
    assert peer[0] == "EASE^R"  # the best TEST NDCG@10 among the systems with segments
    ours = {
        "users: >20": _segment(60, 0.2, 0.1),
        "with friends": _segment(100, 0.1, 0.05),
        "users: 3-5": _segment(40, 0.1, 0.04),
    }
    assert results.history_table(ours, peer) == [
        "| history (known items) | users | msrec HR@10 | msrec NDCG@10 | EASE^R HR@10 | NDCG@10 |",
        "|---|---|---|---|---|---|",
        "| 3-5 | 40 | 0.1000 | 0.0400 | 0.0500 | 0.0200 |",  # shortest histories first
        "| >20 | 60 | 0.2000 | 0.1000 | 0.1000 | 0.0500 |",
    ]
    assert results.best_with_segments({"MostPopular": systems["MostPopular"]}) is None
    assert results.history_table({"with friends": ours["with friends"]}, None) == []


def test_the_transfer_section_shows_msrec_and_the_best_peer_by_history_length():
    peers = {**PEERS, "systems": {**PEERS["systems"]}}
    peers["systems"]["EASE^R"] = {
        **peers["systems"]["EASE^R"],
        "segments": {"users: 1-2 known items": _segment(7, 0.1, 0.03)},
    }
    defaults = msrec(0.12, 0.066) | {"segments": {"users: 1-2 known items": _segment(7, 0.2, 0.09)}}
    text = transfer.section(defaults, None, peers, transfer.rows(defaults, None, peers, {}))
    assert "| 1-2 known items | 7 | 0.2000 | 0.0900 | 0.1000 | 0.0300 |" in text
