"""msrec/paths.py: a data directory is usable only once preprocessing finished in it; local paths
become absolute for what a Beam job hands its workers."""

import os

import pytest

from msrec import errors, paths


def test_require_complete_tells_a_missing_directory_from_an_unfinished_one(tmp_path):
    with pytest.raises(errors.MissingInput, match="does not exist") as missing:
        paths.require_complete(str(tmp_path / "nowhere"))
    with pytest.raises(errors.UnfinishedInput, match=r"no _SUCCESS") as unfinished:
        paths.require_complete(str(tmp_path))
    # callers that caught FileNotFoundError before still do; the flag is what the CLI names
    assert isinstance(missing.value, FileNotFoundError) and isinstance(unfinished.value, FileNotFoundError)
    assert (missing.value.flag, unfinished.value.path) == ("--data", str(tmp_path))
    (tmp_path / paths.SUCCESS).write_text("")
    assert paths.require_complete(str(tmp_path)) is None


def test_local_paths_become_absolute_and_keep_a_trailing_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.absolute("data/raw") == os.path.join(str(tmp_path), "data", "raw")
    assert paths.absolute("out/") == os.path.join(str(tmp_path), "out") + "/"
    assert paths.absolute("./a/../b") == os.path.join(str(tmp_path), "b")
    assert paths.absolute("/x/y/") == "/x/y/" and paths.absolute("/") == "/"


def test_remote_paths_are_left_alone():
    assert paths.absolute("gs://bucket/data/") == "gs://bucket/data/"
    assert paths.absolute("s3://b/k") == "s3://b/k"
