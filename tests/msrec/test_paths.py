"""A data directory is usable only once preprocessing finished in it; the error says which case it is."""

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
