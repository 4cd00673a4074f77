"""Expected failures end in one paragraph naming the source, the file and what to do, then the
per-source report where the run got that far; exit status 2, and a traceback only with --debug."""

import os
import random
import shutil
import subprocess
import sys

import pytest

from msrec import source_config as sources
from msrec.app import cli, errors
from preprocessing.errors import BadSourceError, EmptySourceError, check_report

SHOP = os.path.join(os.path.dirname(__file__), "..", "testdata", "shop")
CONFIG = os.path.join(SHOP, "shop.yaml")


def shop_input(tmp_path, events: bytes | None) -> str:
    """The shop example's folder with ``events.tsv`` (its interactions) replaced, or left out."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(os.path.join(SHOP, "products.csv"), raw)
    if events is not None:
        (raw / "events.tsv").write_bytes(events)
    return str(raw)


def message_of(stderr: str) -> str:
    """The paragraph that starts with ``msrec:``, as one line; it must be the only one."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("msrec: "))
    block = []
    for line in lines[start:]:
        if not line.strip() or line.split()[:3] == ["source", "read", "valid"]:  # the report follows
            break
        block.append(line)
    assert len(block) <= 8 and sum(line.startswith("msrec: ") for line in lines) == 1, stderr
    return " ".join(block)


@pytest.mark.parametrize(
    "events, says, reported",
    [
        (random.Random(0).randbytes(50_000), "encoding", "bad_encoding="),
        (b"a" * 10_000_000, "not a table with one row per line", "line_too_long=1"),
        (None, "has no file", None),
    ],
    ids=["binary-garbage", "one-10-MB-line", "folder-without-interactions"],
)
def test_a_broken_interactions_file_ends_in_one_paragraph(tmp_path, events, says, reported):
    raw = shop_input(tmp_path, events)
    command = ["preprocess", "--config", CONFIG, "--input", raw, "--output", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, "-m", "msrec.app.cli", *command], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = message_of(result.stderr)
    assert "source 'interactions'" in message and os.path.join(raw, "events.tsv") in message
    assert says in message
    if reported:  # the run got that far: the per-source report follows the paragraph
        table = result.stderr[result.stderr.index(message.split()[-1]) :]
        assert "interactions" in table and reported in table and "items" in table
        assert os.path.join(str(tmp_path / "out"), "dead_letter") in message


def run_cli(capsys, *argv) -> tuple[int, str]:
    status = cli.main(list(argv))
    return status, capsys.readouterr().err


def test_debug_adds_the_traceback(tmp_path, capsys):
    raw = shop_input(tmp_path, None)
    status, err = run_cli(
        capsys, "preprocess", "--config", CONFIG, "--input", raw, "--output", str(tmp_path / "o")
    )
    assert status == 2 and "Traceback" not in err
    argv = ("--debug", "preprocess", "--config", CONFIG, "--input", raw, "--output", str(tmp_path / "o2"))
    status, err = run_cli(capsys, *argv)
    assert status == 2 and "Traceback" in err and "MissingSourceError" in err
    assert "has no file" in message_of(err)


def test_an_empty_interactions_file(tmp_path, capsys):
    raw = shop_input(tmp_path, b"")
    status, err = run_cli(
        capsys, "preprocess", "--config", CONFIG, "--input", raw, "--output", str(tmp_path / "o")
    )
    assert status == 2 and "Traceback" not in err
    assert f"source 'interactions': {os.path.join(raw, 'events.tsv')} is empty" in message_of(err)


def test_an_unparsable_config(tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("name: mine\nsources:\n  interactions: {path: a.csv, fields: [}\n")
    argv = ("preprocess", "--config", str(config), "--input", str(tmp_path), "--output", str(tmp_path / "o"))
    status, err = run_cli(capsys, *argv)
    assert status == 2 and "Traceback" not in err
    message = message_of(err)
    assert f"{config} is not valid YAML" in message and "line 3, column" in message


def test_an_unknown_dataset_or_config_file(tmp_path, capsys):
    argv = (
        "preprocess",
        "--config",
        "no-such.yaml",
        "--input",
        str(tmp_path),
        "--output",
        str(tmp_path / "o"),
    )
    status, err = run_cli(capsys, *argv)
    assert status == 2 and "Traceback" not in err
    assert "no source config 'no-such.yaml' (built-in datasets: synthetic," in message_of(err)
    with pytest.raises(sources.ConfigError) as unknown:
        sources.preset("movielens-1b")
    assert "unknown dataset 'movielens-1b'; built in:" in errors.explain(unknown.value)


def test_a_bug_is_not_explained_and_keeps_its_traceback():
    assert errors.report(KeyError("x")) is None and errors.explain(ValueError("x")) is None


def report(**sources_):
    return {
        k: {"read": r, "valid": v, "dead_letter": r - v, "reasons": {"x": r - v}}
        for k, (r, v) in sources_.items()
    }


FILES = {"interactions": "in/events.tsv", "items": "in/products.csv"}


def test_a_source_with_only_a_header_is_empty():
    with pytest.raises(EmptySourceError, match="no rows") as err:
        check_report(report(interactions=(5, 5), items=(0, 0)), FILES, 0.05, "out/dead_letter")
    assert (err.value.source, err.value.file) == ("items", "in/products.csv")


def test_too_many_bad_rows_or_no_valid_interaction_fail_with_the_report():
    with pytest.raises(BadSourceError, match="dead-letter fraction above 0.05") as err:
        check_report(report(interactions=(100, 90), items=(5, 5)), FILES, 0.05, "out/dead_letter")
    assert (err.value.source, err.value.fractions, err.value.report["items"]["read"]) == (
        "interactions",
        {"interactions": 0.1},
        5,
    )
    with pytest.raises(BadSourceError) as err:  # the library's default allows every row to be bad
        check_report(report(interactions=(3, 0)), FILES, 1.0, "out/dead_letter")
    assert "and no valid interaction is left." in " ".join(errors.explain(err.value).split())
    check_report(report(interactions=(100, 95), items=(5, 5)), FILES, 0.05, "out/dead_letter")
