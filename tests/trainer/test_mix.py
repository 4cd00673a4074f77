"""The ranking's mix chosen on VALIDATION: each candidate is scored exactly as the model would rank."""

import numpy as np
import pytest

from msrec import config, metrics
from trainer import evaluate, mix, task
from trainer.artifacts import load
from trainer.scoring import Ranking


@pytest.fixture(scope="module")
def ranking(tiny_source):
    return Ranking.of(tiny_source.resolve(config.Config())[0].model)


@pytest.fixture(scope="module")
def validation_model(tiny_source, tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    cfg = config.override(config.Config(), ["train.epochs=1", "train.refit=false"])
    task.run(cfg, tiny_source, str(root / "model"), verbose=0)
    return load(str(root / "model"), tiny_source)[0]


@pytest.fixture(scope="module")
def chosen(validation_model, ranking, tiny_source):
    return mix.choose(validation_model, ranking, tiny_source)


def test_each_candidate_scores_what_the_model_with_that_mix_scores(
    validation_model, ranking, tiny_source, chosen
):
    best, table = chosen
    assert {row["graph_score_weight"] for row in table} == set(mix.WEIGHTS)
    # the tiny corpus has text and cold VALIDATION targets, so every cold-text setting is a candidate
    assert {(row["cold_text_weight"], row["cold_text_offset"]) for row in table} == set(mix.COLD)
    assert best in [{k: row[k] for k in mix.KEYS} for row in table]
    for row in table[:: max(1, len(table) // 12)] + [next(r for r in table if r["cold_text_weight"])]:
        direct = evaluate.evaluate(
            validation_model, mix.applied(ranking, row), tiny_source, "validation", baseline=False
        )["model"]
        assert direct["NDCG@10"] == pytest.approx(row["NDCG@10"], abs=1e-9), row
        assert direct["MRR"] == pytest.approx(row["MRR"], abs=1e-9), row


def test_the_chosen_mix_is_at_least_as_good_as_each_part_alone(chosen):
    best, table = chosen
    score = {tuple(row[k] for k in mix.KEYS): row["NDCG@10"] for row in table}
    chosen_score = score[tuple(best[k] for k in mix.KEYS)]
    assert chosen_score >= score[0.0, 0.0, 0.0]  # the towers alone
    assert chosen_score >= score[mix.EVIDENCE_FIRST, 0.0, 0.0]  # the evidence alone
    assert chosen_score == max(score.values())


def test_per_user_ranks_are_the_ranks_behind_the_metrics(validation_model, ranking, tiny_source):
    out = evaluate.evaluate(
        validation_model, ranking, tiny_source, "validation", baseline=False, per_user=True
    )
    held = evaluate.held_out(tiny_source, "validation")
    assert sorted(out["users"]) == sorted(held["user_id"]) and len(out["ranks"]) == len(out["users"])
    assert metrics.summarize(np.array(out["ranks"])) == pytest.approx(
        {k: v for k, v in out["model"].items() if k in metrics.summarize(np.array([1]))}
    )
    assert "ranks" not in evaluate.evaluate(
        validation_model, ranking, tiny_source, "validation", baseline=False
    )
