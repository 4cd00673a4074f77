"""Plausibility limits on rows, without Beam: the timestamp window, the line length, the size of
a dead letter."""

import datetime
import io

import pytest

from msrec import source_config as sources
from preprocessing import lines, records
from preprocessing.records import BadRecord
from preprocessing.rows import RAW_CHARS, dead_letter


def interactions(**settings):
    fields = {"user_id": 0, "item_id": 1, "timestamp": 2}
    config = {"sources": {"interactions": {"path": "x.csv", "fields": fields, **settings}}}
    return sources.from_dict(config).source("interactions")


@pytest.mark.parametrize(
    "raw",
    [
        "-99999999999999999999999",  # beyond int64
        "9223372036854775808",  # int64's maximum + 1
        "-1",  # before 1970-01-01
        "4102444800",  # 2100-01-01: the window's end is not in it
        "1e300",
        "1969-12-31T23:59:59Z",
        "2100-01-01",
    ],
)
def test_times_outside_the_default_window_are_bad(raw):
    with pytest.raises(BadRecord, match="bad_timestamp") as err:
        records.parse_row("interactions", interactions(), f"u,i,{raw}", None)
    assert "[1970-01-01, 2100-01-01)" in err.value.detail


@pytest.mark.parametrize("raw, seconds", [("0", 0), ("4102444799", 4102444799), ("1999-12-31", 946598400)])
def test_times_inside_the_window_parse(raw, seconds):
    assert records.parse_row("interactions", interactions(), f"u,i,{raw}", None).timestamp == seconds


def test_the_config_sets_the_window_as_dates_or_seconds():
    # YAML reads an unquoted 1900-01-01 as a date; a quoted date-time and seconds work too.
    spec = interactions(timestamp_window=[datetime.date(1900, 1, 1), "2000-01-01T00:00:00Z"])
    assert spec.timestamp_window == (-2208988800, 946684800)
    assert records.parse_row("interactions", spec, "u,i,-86400", None).timestamp == -86400
    with pytest.raises(BadRecord, match=r"outside timestamp_window \[1900-01-01, 2000-01-01\)"):
        records.parse_row("interactions", spec, "u,i,2001-01-01", None)
    assert interactions(timestamp_window=[0, 10]).timestamp_window == (0, 10)


@pytest.mark.parametrize(
    "window, message",
    [
        ([10, 0], "ascending"),
        ([0, 2**63], "int64"),
        (["soon", 10], "two times"),
        ([0], "two times"),
    ],
)
def test_a_bad_window_is_a_config_error(window, message):
    with pytest.raises(sources.ConfigError, match=message):
        interactions(timestamp_window=window)


def test_the_window_applies_to_interactions_only():
    config = {"sources": {"interactions": {"path": "x", "fields": {"user_id": 0, "item_id": 1}}}}
    config["sources"]["items"] = {"path": "y", "fields": {"item_id": 0}, "timestamp_window": [0, 1]}
    with pytest.raises(sources.ConfigError, match="interactions' only"):
        sources.from_dict(config)


def read(data, limit=8, chunk=3):
    return [(line.data, line.length) for line in lines.read_lines(io.BytesIO(data), limit, chunk)]


def test_lines_split_across_chunks_like_a_file_iterates():
    # Chunks of 3 bytes cut lines and line ends anywhere; blank lines stay (ParseFile skips them).
    assert read(b"ab\r\ncdef\n\ngh") == [(b"ab", 2), (b"cdef", 4), (b"", 0), (b"gh", 2)]
    assert read(b"ab\n") == [(b"ab", 2)] and read(b"") == []


def test_a_long_line_keeps_its_first_bytes_and_its_length():
    assert read(b"0123456789abcdef\nxy\n") == [(b"01234567", 16), (b"xy", 2)]
    (line,) = lines.read_lines(io.BytesIO(b"z" * 5_000_000), limit=100)
    assert (len(line.data), line.length, line.cut) == (100, 5_000_000, True)


def test_a_dead_letter_keeps_a_bounded_prefix_and_the_full_length():
    letter = dead_letter("interactions", "u.data", 1, "x" * 10_000_000, "line_too_long", "d" * 10_000)
    assert letter["raw"] == "x" * RAW_CHARS and letter["raw_length"] == 10_000_000
    assert len(letter["detail"]) < 1000
    assert dead_letter("items", "f", 2, "short", "bad_json")["raw_length"] == 5
