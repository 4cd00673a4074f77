"""The ranking's mix chosen on VALIDATION: each candidate is scored exactly as the model would rank."""

import pytest

from msrec import config
from trainer import evaluate, mix, task
from trainer.artifacts import load


@pytest.fixture(scope="module")
def validation_model(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    cfg = config.override(config.Config(), ["train.epochs=1", "train.refit=false"])
    task.run(cfg, tiny_data, str(root / "model"), verbose=0)
    return load(str(root / "model"))[0]


def test_each_candidate_weight_scores_what_the_model_with_that_weight_scores(validation_model, tiny_data):
    weight, table = mix.choose(validation_model, tiny_data)
    assert [row["graph_score_weight"] for row in table] == list(mix.WEIGHTS)
    assert weight in mix.WEIGHTS
    for row in table:
        validation_model.graph_score_weight = row["graph_score_weight"]
        direct = evaluate.evaluate(validation_model, tiny_data, "validation", baseline=False)["model"]
        assert direct["NDCG@10"] == pytest.approx(row["NDCG@10"], abs=1e-9)
        assert direct["MRR"] == pytest.approx(row["MRR"], abs=1e-9)


def test_the_chosen_weight_is_at_least_as_good_as_either_part_alone(validation_model, tiny_data):
    weight, table = mix.choose(validation_model, tiny_data)
    by_weight = {row["graph_score_weight"]: row["NDCG@10"] for row in table}
    assert by_weight[weight] >= by_weight[0.0]  # the towers alone
    assert by_weight[weight] >= by_weight[mix.EVIDENCE_FIRST]  # the evidence alone
