"""Every command's expected failures end as one paragraph naming what to do: exit status 2, no traceback
(``--debug`` adds it). Nothing here trains: the inputs are directories that are missing, empty, or
hold only a ``_SUCCESS`` marker, and the server is a port nothing listens on."""

import json
import socket

import pytest

from msrec.app import cli


def fails(capsys, *argv: str) -> str:
    """Runs ``msrec argv`` in process; returns its stderr as one line after checking the exit status."""
    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and err.startswith("msrec: "), err
    assert err.count("msrec: ") == 1 and "\n\n" not in err.strip(), err  # one paragraph
    return " ".join(err.split())


@pytest.fixture
def finished(tmp_path) -> str:
    """A data directory the checks take for a finished preprocessing output (nothing reads it)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "_SUCCESS").write_text("")
    return str(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_train_without_data_or_with_unfinished_data(tmp_path, capsys):
    message = fails(capsys, "train", "--data", str(tmp_path / "nowhere"), "--model-dir", str(tmp_path / "m"))
    assert "does not exist. Pass --data the output directory of a finished `msrec preprocess" in message
    message = fails(capsys, "train", "--data", str(tmp_path), "--model-dir", str(tmp_path / "m"))
    assert f"{tmp_path} is not a finished preprocessing output (no _SUCCESS)" in message
    assert f"Run `msrec preprocess --output {tmp_path} --overwrite` to completion" in message


@pytest.mark.parametrize(
    "config, sets, says",
    [
        ("train: [1\n", [], "cannot be used: while parsing a flow sequence"),
        ("trian:\n  epochs: 3\n", [], "unknown Config keys: ['trian']"),
        (
            "",
            ["train.seed=1", "train.epochs=many"],
            "--set train.epochs=many: epochs: cannot read 'many' as int",
        ),
        ("", ["train.epoch=3"], "--set train.epoch: unknown key 'epoch'"),
        ("", ["train.lr_schedule=steps"], "train.lr_schedule must be one of"),
    ],
    ids=["malformed-yaml", "unknown-key", "bad-value", "unknown-set-key", "invalid-choice"],
)
def test_train_with_a_config_it_cannot_use(tmp_path, capsys, finished, config, sets, says):
    argv = ["train", "--data", finished, "--model-dir", str(tmp_path / "m")]
    if config:
        (tmp_path / "config.yaml").write_text(config)
        argv += ["--config", str(tmp_path / "config.yaml")]
    message = fails(capsys, *argv, *[f"--set={s}" for s in sets])
    assert says in message and "Fix the file or the --set value" in message
    assert not (tmp_path / "m").exists()


def test_a_config_file_that_is_not_there(tmp_path, capsys, finished):
    message = fails(
        capsys, "tune", "--data", finished, "--config", "nowhere.yaml", "--output-dir", str(tmp_path)
    )
    assert message == (
        "msrec: nowhere.yaml does not exist. Pass --config the path of a config file (JSON or YAML), "
        "or leave it out for the defaults."
    )


def test_a_bad_flag_value_is_argparse_usage_and_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--data", str(tmp_path), "--model-dir", str(tmp_path), "--epochs", "0"])
    assert exit_.value.code == 2
    assert "argument --epochs: expected 1 or more, got 0" in capsys.readouterr().err


def test_evaluate_a_directory_without_a_model_or_an_export_base(tmp_path, capsys):
    message = fails(capsys, "evaluate", "--model-dir", str(tmp_path), "--output", str(tmp_path / "m.json"))
    assert f"{tmp_path} holds no trained model (no config.json or run.json)" in message
    assert "Pass --model-dir the directory `msrec train --model-dir` wrote" in message
    (tmp_path / "export" / "3").mkdir(parents=True)
    (tmp_path / "export" / "12").mkdir()
    message = fails(capsys, "evaluate", "--export", str(tmp_path / "export"), "--output", "m.json")
    assert f"pass one of its versions, e.g. {tmp_path / 'export' / '12'}" in message
    assert "needs --model-dir" in fails(capsys, "evaluate", "--output", "m.json")


def test_export_without_a_model(tmp_path, capsys):
    message = fails(
        capsys, "export", "--model-dir", str(tmp_path / "nowhere"), "--export-base", str(tmp_path)
    )
    assert f"model directory {tmp_path / 'nowhere'} does not exist. Pass --model-dir" in message


def test_tune_without_data(tmp_path, capsys):
    message = fails(capsys, "tune", "--data", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path))
    assert f"data directory {tmp_path / 'nowhere'} does not exist" in message


def test_batch_predict_without_a_model(tmp_path, capsys):
    (tmp_path / "users.txt").write_text("u1\n")
    argv = ["--input", str(tmp_path / "users.txt"), "--output", str(tmp_path / "out") + "/"]
    message = fails(capsys, "batch-predict", "--model", str(tmp_path / "nowhere"), *argv)
    assert "does not exist. Pass --model a version directory DIR/<version>/" in message
    (tmp_path / "empty").mkdir()  # there, but no version in it: the job itself says so
    message = fails(capsys, "batch-predict", "--model", str(tmp_path / "empty"), *argv)
    assert "is neither a SavedModel nor a base of <version>/ ones. Pass --model" in message


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_recommend_from_a_port_nothing_listens_on(capsys, rest):
    server = f"127.0.0.1:{free_port()}"
    argv = ["recommend", "--server", server, "--model_name", "msrec", "--user_id", "u1"]
    message = fails(capsys, *argv, *(["--rest"] if rest else []))
    assert f"msrec: no model server answers at {server} (" in message
    assert "Connection refused" in message and "Start one with `msrec serve --model_base_path" in message


def test_serve_a_base_path_that_is_not_there(tmp_path, capsys):
    message = fails(capsys, "serve", "--model_base_path", str(tmp_path / "nowhere"), "--port", "0")
    assert "does not exist. Pass --model_base_path the --export-base directory of `msrec export`" in message


@pytest.mark.parametrize("command", ["benchmark", "ablation"])
def test_experiments_without_their_input(tmp_path, capsys, monkeypatch, command):
    output = ["--output", str(tmp_path / "b.json")] if command == "benchmark" else []
    argv = [command, "--dataset", "movielens-100k", "--workdir", str(tmp_path), *output]
    message = fails(capsys, *argv, "--input", str(tmp_path / "nowhere"))
    assert "does not exist. Pass --input the folder that holds the dataset's files" in message
    monkeypatch.delenv("MSREC_DATA_DIR", raising=False)
    assert "pass --input DIR, or set $MSREC_DATA_DIR" in fails(capsys, *argv)


def test_preprocess_with_a_bad_set_value_or_into_a_used_directory(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["preprocess", "--dataset", "synthetic", "--output", str(out)]
    message = fails(capsys, *argv, "--set", "data.lengths.histroy=20")
    assert "--set data.lengths.histroy: unknown key 'histroy'" in message
    assert not out.exists()  # the config is read before anything is written
    out.mkdir()
    (out / "keep.txt").write_text("")
    message = fails(capsys, *argv)
    assert f"{out} is not empty: it holds no finished run (no _SUCCESS: a run that stopped)" in message
    assert "pass --overwrite to replace it, or use a new directory" in message
    (out / "_SUCCESS").write_text("")
    assert f"{out} is not empty: it holds a finished run; pass --overwrite" in fails(capsys, *argv)


def test_generate_into_a_file_or_too_few_items(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    message = fails(capsys, "generate", "--output", str(tmp_path / "file" / "raw"))
    assert f"cannot write to --output {tmp_path / 'file' / 'raw'}: Not a directory" in message
    message = fails(capsys, "generate", "--output", str(tmp_path / "raw"), "--items", "10")
    assert "need num_categories >= 2 and num_items >= 2 * num_categories" in message


def test_debug_adds_the_traceback(tmp_path, capsys):
    status = cli.main(["--debug", "tune", "--data", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" in err and "MissingInput" in err
    assert err.splitlines()[-2].startswith("msrec: data directory")


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    from msrec.app import commands

    def broken(args):
        return json.loads("not json")

    monkeypatch.setitem(commands.HANDLERS, "generate", broken)
    with pytest.raises(json.JSONDecodeError):
        cli.main(["generate", "--output", str(tmp_path)])
