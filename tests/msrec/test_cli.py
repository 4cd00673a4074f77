"""Every documented subcommand exists and describes its flags."""

import pytest

from msrec import cli

COMMANDS = (
    "generate",
    "preprocess",
    "train",
    "evaluate",
    "export",
    "serve",
    "recommend",
    "batch-predict",
    "benchmark",
    "ablation",
    "demo",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help_describing_its_flags(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "--" in out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
