"""``msrec --help`` and ``msrec <command> --help`` answer without TensorFlow or Beam, and say nothing on
stderr; so does a wrong path, found before TensorFlow starts. Each runs in a fresh interpreter, as a
person's shell would."""

import json
import subprocess
import sys

from msrec.app import parsers

HELPS = [["--help"]] + [[name, "--help"] for name in parsers.COMMANDS]

SCRIPT = """
import json, sys
from msrec.app import cli
for argv in json.loads(sys.argv[1]):
    try:
        cli.main(argv)
    except SystemExit as exit_:
        assert exit_.code == 0, (argv, exit_.code)
print(json.dumps(sorted(m for m in ("tensorflow", "apache_beam") if m in sys.modules)))
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_help_of_msrec_and_of_every_command_imports_neither_tensorflow_nor_beam():
    result = run("-c", SCRIPT, json.dumps(HELPS))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    *helps, imported = result.stdout.splitlines()
    assert json.loads(imported) == []
    assert sum(line.startswith("usage: msrec") for line in helps) == len(HELPS)


def test_msrec_help_and_train_help_print_only_their_usage():
    for argv in (["--help"], ["train", "--help"]):
        result = run("-m", "msrec.app.cli", *argv)
        assert (result.returncode, result.stderr) == (0, ""), argv
        assert result.stdout.startswith("usage: msrec")
    assert "--model-dir" in result.stdout and "--epochs" in result.stdout


def test_a_data_directory_that_is_not_there_is_one_sentence_before_tensorflow_starts(tmp_path):
    missing = str(tmp_path / "nowhere")
    script = (
        "import sys; from msrec.app import cli; status = cli.main(sys.argv[1:]); "
        "print(status, 'tensorflow' in sys.modules)"
    )
    result = run("-c", script, "train", "--data", missing, "--model-dir", str(tmp_path / "m"))
    assert result.stdout.split() == ["2", "False"]
    message = " ".join(result.stderr.split())  # one paragraph, wrapped at 100 columns
    assert message == (
        f"msrec: data directory {missing} does not exist. Pass --data the output directory of a "
        "finished `msrec preprocess --output DIR` run."
    )
