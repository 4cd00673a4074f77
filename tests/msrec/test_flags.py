"""The jobs' shared flags: one definition for ``python -m trainer.task`` and ``msrec train``, and a
config that cannot be read is a typed error."""

import argparse

import pytest

from msrec import errors, flags


def test_training_flags_give_the_config_they_name(tmp_path):
    (tmp_path / "c.yaml").write_text("train:\n  epochs: 3\n  batch_size: 64\n")
    argv = ["--data", "d", "--model-dir", "m", "--config", str(tmp_path / "c.yaml"), "--set", "train.seed=7"]
    args = flags.training(argparse.ArgumentParser()).parse_args(argv + ["--epochs", "5"])
    config = flags.training_config(args)
    assert (config.train.epochs, config.train.batch_size, config.train.seed) == (5, 64, 7)


def test_the_model_directory_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AIP_MODEL_DIR", "gs://bucket/model")
    assert (
        flags.training(argparse.ArgumentParser()).parse_args(["--data", "d"]).model_dir == "gs://bucket/model"
    )
    monkeypatch.delenv("AIP_MODEL_DIR")
    with pytest.raises(SystemExit):
        flags.training(argparse.ArgumentParser()).parse_args(["--data", "d"])


@pytest.mark.parametrize(
    "text, sets, kind",
    [
        (None, ["model.embedding_dim=wide"], errors.BadConfig),
        (None, ["nosection.key=1"], errors.BadConfig),
        (None, ["train.epochs"], errors.BadConfig),
        ("model: [", [], errors.BadConfig),
        ("model: 3\n", [], errors.BadConfig),
        ("", [], errors.MissingInput),
    ],
)
def test_a_config_that_cannot_be_read_is_a_typed_error(tmp_path, text, sets, kind):
    path = None
    if text is not None:
        path = str(tmp_path / ("c.yaml" if text else "missing.yaml"))
        if text:
            (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(kind) as raised:
        flags.config(path, sets)
    assert isinstance(raised.value, ValueError if kind is errors.BadConfig else FileNotFoundError)
    assert "\n" not in str(raised.value)


def test_counts_and_fractions_are_checked_by_the_parser():
    assert flags.positive_int("3") == 3 and flags.fraction("0.25") == 0.25
    for parse, text in ((flags.positive_int, "0"), (flags.positive_int, "x"), (flags.fraction, "1.5")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
