"""paths.absolute: what a Beam job hands its workers, who need not share the submitter's directory."""

import os

from msrec import paths


def test_local_paths_become_absolute_and_keep_a_trailing_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.absolute("data/raw") == os.path.join(str(tmp_path), "data", "raw")
    assert paths.absolute("out/") == os.path.join(str(tmp_path), "out") + "/"
    assert paths.absolute("./a/../b") == os.path.join(str(tmp_path), "b")
    assert paths.absolute("/x/y/") == "/x/y/" and paths.absolute("/") == "/"


def test_remote_paths_are_left_alone():
    assert paths.absolute("gs://bucket/data/") == "gs://bucket/data/"
    assert paths.absolute("s3://b/k") == "s3://b/k"
