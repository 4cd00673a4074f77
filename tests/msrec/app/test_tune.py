"""msrec tune on the tiny corpus: the defaults are the first trial, the result is a usable config."""

import json
import os

from msrec import config
from msrec.app import tune
from trainer import mix


def test_tuning_starts_from_the_defaults_and_writes_a_config_train_can_read(tiny_source, tmp_path):
    base = config.override(config.Config(), ["train.epochs=1"])
    result = tune.run(tiny_source, str(tmp_path / "trials"), base, budget_minutes=0.01)
    first = result["trials"][0]
    assert (first["temperature"], first["embedding_dim"], first["epochs"]) == (0.1, 64, 1)
    assert first["graph_score_weight"] in mix.WEIGHTS
    path = tune.write(result, str(tmp_path / "out"))
    tuned = config.load(path)  # what `msrec train --config` reads
    best = max(result["trials"], key=lambda r: r["NDCG@10"])
    assert [getattr(tuned.model, k) for k in mix.KEYS] == [best[k] for k in mix.KEYS]
    assert tuned.model.sources != ("auto",)  # resolved against the data, with reasons
    assert "| trial |" in open(os.path.join(tmp_path, "out", "trials.md")).read()
    assert json.load(open(os.path.join(tmp_path, "out", "trials.json")))["overrides"]
