"""Canonical records every source is parsed into, and the parsing rules.

These are plain functions with no Beam in them, so the rules can be tested on a
handful of strings. ``parse_row`` raises ``BadRecord`` with a short machine
reason (``missing_columns``, ``empty_id``, ...) that the dead-letter output and
the per-source report count by.
"""

from __future__ import annotations

import bisect
import json
import math
from typing import Any, NamedTuple, Sequence

from msrec import features as F
from msrec import source_config as sources
from msrec.source_config import SourceSpec


class Interaction(NamedTuple):
    user: str
    item: str
    timestamp: int
    raw_timestamp: str  # exactly as in the file: the split fingerprint uses it
    weight: float


class Item(NamedTuple):
    """An item's content. ``title_tokens`` are ``features.words(title)``, the export's own rule."""

    item: str
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    title_tokens: tuple[str, ...]
    title: str = ""  # raw, as the file gives it: part of the text that is embedded
    description: str = ""


class User(NamedTuple):
    user: str
    attributes: tuple[str, ...]


class Edge(NamedTuple):
    user: str
    friend: str


class ItemTag(NamedTuple):
    item: str
    tag: str


class TagName(NamedTuple):
    tag: str
    name: str


class BadRecord(ValueError):
    """A row that cannot be used; ``reason`` is the dead-letter category."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def split_columns(line: str, spec: SourceSpec) -> list[str]:
    return line.split(spec.delimiter)


def _field(row: Any, column: Any, name: str) -> Any:
    try:
        return row[column]
    except (KeyError, IndexError, TypeError):
        raise BadRecord("missing_field", f"{name} (column {column!r})") from None


ABSENT = object()  # an optional field the config does not map, or a JSON row leaves out


def _optional(row: Any, spec: SourceSpec, name: str) -> Any:
    """A mapped optional field's value (``None`` if present but null), or ``ABSENT``."""
    if name not in spec.fields:
        return ABSENT
    if isinstance(row, dict):
        return row.get(spec.fields[name], ABSENT)
    return _field(row, spec.fields[name], name)


def _id(row: Any, spec: SourceSpec, name: str) -> str:
    value = str(_field(row, spec.fields[name], name)).strip()
    if not value:
        raise BadRecord("empty_id", name)
    return value


def parse_timestamp(raw: str, window: tuple[int, int] = sources.DEFAULT_TIMESTAMP_WINDOW) -> int:
    """Unix seconds from an integer, a float or an ISO-8601 date/time inside ``window`` ``[start, end)``.

    A time outside the window (by default 1970-01-01 up to 2100-01-01, always inside int64) is bad:
    since the earliest copy of a (user, item) pair wins, one absurd time would reorder a history.
    """
    try:
        value = sources.instant(raw)
    except ValueError:
        raise BadRecord("bad_timestamp", repr(raw)) from None
    start, end = window
    if not start <= value < end:
        span = f"[{sources.describe_instant(start)}, {sources.describe_instant(end)})"
        raise BadRecord("bad_timestamp", f"{raw!r} is outside timestamp_window {span}")
    return int(value)


def parse_weight(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BadRecord("bad_weight", repr(raw)) from None
    if not math.isfinite(value):
        raise BadRecord("bad_weight", repr(raw))
    return value


def _values(raw: Any, spec: SourceSpec) -> tuple[str, ...]:
    if raw is None or raw is ABSENT:
        return ()
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(spec.list_delimiter)
    return tuple(s for s in (str(v).strip() for v in items) if s)


def _interaction(row: Any, spec: SourceSpec) -> Interaction:
    user, item = _id(row, spec, "user_id"), _id(row, spec, "item_id")
    raw_ts, timestamp = "0", 0  # PROTOCOL.md: sources without time use timestamp 0
    value = _optional(row, spec, "timestamp")
    if value is not ABSENT:  # a null time is bad data, not "no time": it would reorder the history
        raw_ts = str(value).strip()
        timestamp = parse_timestamp(raw_ts, spec.timestamp_window)
    value = _optional(row, spec, "weight")
    weight = 1.0 if value is ABSENT else parse_weight(value)
    return Interaction(user, item, timestamp, raw_ts, weight)


def _item(row: Any, spec: SourceSpec) -> Item:
    categories = _values(_optional(row, spec, "categories"), spec)
    for column, name in spec.category_flags.items():
        flag = str(_field(row, column, f"category flag {name}")).strip()
        if flag not in ("0", "1"):
            raise BadRecord("bad_flag", f"{name}={flag!r}")
        if flag == "1":
            categories += (name,)
    tags = _values(_optional(row, spec, "tags"), spec)
    title, description = (_string(_optional(row, spec, name)) for name in ("title", "description"))
    return Item(_id(row, spec, "item_id"), categories, tags, F.words(title), title, description)


def _string(raw: Any) -> str:
    return "" if raw is ABSENT or raw is None else str(raw)


def bucket(raw: str, boundaries: Sequence[float], name: str) -> str:
    """The half-open interval of ``boundaries`` a number falls in: ``<18``, ``[18,25)``, ``>=56``."""
    try:
        value = float(raw)
    except ValueError:
        raise BadRecord("bad_number", f"{name}={raw!r}") from None
    if not math.isfinite(value):
        raise BadRecord("bad_number", f"{name}={raw!r}")
    labels = [f"{b:g}" for b in boundaries]
    index = bisect.bisect_right(boundaries, value)
    if index == 0:
        return f"<{labels[0]}"
    if index == len(boundaries):
        return f">={labels[-1]}"
    return f"[{labels[index - 1]},{labels[index]})"


def _user(row: Any, spec: SourceSpec) -> User:
    attributes = []
    for column, name in spec.attributes:
        value = str(_field(row, column, name)).strip()
        if value and column in spec.buckets:
            value = bucket(value, spec.buckets[column], name)
        if value:
            attributes.append(f"{name}={value}")
    return User(_id(row, spec, "user_id"), tuple(attributes))


def _edge(row: Any, spec: SourceSpec) -> Edge:
    edge = Edge(_id(row, spec, "user_id"), _id(row, spec, "friend_id"))
    if edge.user == edge.friend:
        raise BadRecord("self_edge", edge.user)
    return edge


def _item_tag(row: Any, spec: SourceSpec) -> ItemTag:
    return ItemTag(_id(row, spec, "item_id"), _id(row, spec, "tag"))


def _tag_name(row: Any, spec: SourceSpec) -> TagName:
    name = str(_field(row, spec.fields["name"], "name")).strip()
    if not name:
        raise BadRecord("empty_name", "name")
    return TagName(_id(row, spec, "tag_id"), name)


_BUILDERS = {
    "interactions": _interaction,
    "items": _item,
    "users": _user,
    "social": _edge,
    "item_tags": _item_tag,
    "tag_names": _tag_name,
}


def parse_fields(kind: str, spec: SourceSpec, row: dict[str, Any]) -> Any:
    """Parses one already-split row (a column-name dict, e.g. from Parquet) into its record.

    Raises:
      BadRecord: with the reason the row is unusable.
    """
    return _BUILDERS[kind](row, spec)


def parse_row(kind: str, spec: SourceSpec, line: str, header: Sequence[str] | None) -> Any:
    """Parses one decoded line of source ``kind`` into its canonical record.

    Raises:
      BadRecord: with the reason the row is unusable.
    """
    if not line.strip():
        raise BadRecord("empty_line")
    if spec.format == "jsonl":
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadRecord("bad_json", str(err)) from None
        if not isinstance(row, dict):
            raise BadRecord("bad_json", "not an object")
    else:
        columns = split_columns(line, spec)
        expected = len(header) if header is not None else spec.columns
        if expected is not None and len(columns) != expected:
            reason = "missing_columns" if len(columns) < expected else "extra_columns"
            raise BadRecord(reason, f"{len(columns)} columns, expected {expected}")
        row = dict(zip(header, columns, strict=True)) if header is not None else columns
    return _BUILDERS[kind](row, spec)
