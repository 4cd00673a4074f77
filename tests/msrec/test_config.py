"""The typed config: overrides, files and the errors people hit."""

import json

import pytest

from msrec import config


def test_override_reads_nested_values_with_their_types():
    c = config.override(
        config.Config(),
        ["model.embedding_dim=32", "data.lengths.history=7", "model.hidden_dims=64,32", "train.refit=false"],
    )
    assert c.model.embedding_dim == 32
    assert c.data.lengths.history == 7
    assert c.model.hidden_dims == (64, 32)
    assert c.train.refit is False
    assert c.train.epochs == config.Config().train.epochs


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("model.embeding_dim=3", "unknown key 'embeding_dim'"),
        ("modle.embedding_dim=3", "no config section 'modle'"),
        ("model.embedding_dim", "expects key=value"),
        ("model.embedding_dim=wide", "cannot read 'wide' as int"),
    ],
)
def test_override_rejects_mistakes_by_name(assignment, message):
    with pytest.raises(ValueError, match=message):
        config.override(config.Config(), [assignment])


def test_file_round_trip(tmp_path):
    original = config.override(config.Config(), ["train.learning_rate=0.02"])
    path = tmp_path / "config.json"
    config.save(original, str(path))
    assert json.loads(path.read_text())["train"]["learning_rate"] == 0.02
    assert config.load(str(path)) == original
