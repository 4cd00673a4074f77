"""Every documented subcommand exists and documents the flags the README promises."""

import os

import pytest

from msrec.app import cli

# The flags README.md's command table shows for each subcommand (serve and batch-predict use
# TF Serving's and the Beam job's own flag names).
DOCUMENTED_FLAGS = {
    "generate": ("--output", "--users", "--items", "--interactions", "--seed"),
    "preprocess": ("--dataset", "--config", "--input", "--output"),
    "train": ("--data", "--model-dir", "--config", "--set", "--epochs"),
    "evaluate": ("--data", "--model-dir", "--output"),
    "export": (
        "--model-dir",
        "--export-base",
        "--new-items",
        "--block-items",
        "--embeddings",
        "--partitions",
        "--probes",
    ),
    "serve": ("--model_base_path", "--model_name", "--port", "--rest_api_port"),
    "recommend": (
        "--server",
        "--model_name",
        "--user_id",
        "--k",
        "--rest",
        "--explain",
        "--include-attribute",
    ),
    "batch-predict": ("--model", "--input", "--output", "--input-format"),
    "benchmark": ("--dataset", "--seeds", "--output"),
    "ablation": ("--dataset", "--output-dir"),
    "demo": ("--epochs",),
}


@pytest.mark.parametrize("command", sorted(DOCUMENTED_FLAGS))
def test_every_subcommand_documents_the_flags_the_readme_shows(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    missing = [flag for flag in DOCUMENTED_FLAGS[command] if flag not in out]
    assert missing == [], f"msrec {command} --help does not mention {missing}"


def test_commands_are_quiet_unless_verbose(capsys, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    with pytest.raises(SystemExit):
        cli.main(["--verbose", "generate", "--help"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
