"""Declarative source configs: which raw files a dataset has and how their columns map.

A dataset is described by a YAML file (presets for the built-in datasets live in
``msrec/presets/``). Each source names a file or glob, its format and how its
columns map to msrec's canonical fields:

* ``interactions``: ``user_id``, ``item_id``, optional ``timestamp`` and ``weight``;
* ``items``: ``item_id`` and any of ``categories``, ``tags``, ``title``, ``description``;
  ``category_flags`` maps 0/1 flag columns to category names (MovieLens genres). The title
  and description are kept as text: with the categories and tags they make the item text
  that preprocessing embeds (``data.text_fields``, ``preprocessing/item_text.py``);
* ``users``: ``user_id``; every column listed in ``attributes`` becomes a
  ``name=value`` profile attribute;
* ``social``: ``user_id``, ``friend_id``;
* ``item_tags``: ``item_id``, ``tag``: one tagging per row (Last.fm's
  ``user_taggedartists.dat``); each item keeps its most used tags;
* ``tag_names``: ``tag_id``, ``name``: when present, ``item_tags.tag`` holds ids
  looked up here (Last.fm's ``tags.dat``).

A column is named by its header name (CSV with header, JSONL keys) or its
0-based index (headerless CSV/TSV). Only ``interactions`` is required.
``references`` lists fields whose values must exist in another source
(``{item_id: items}``); rows that break it are dead-lettered, as are interaction times
outside ``timestamp_window``. A config that cannot be used raises ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.resources
import itertools
import math
import posixpath
from typing import Any, Mapping

KINDS = ("interactions", "items", "users", "social", "item_tags", "tag_names")
REQUIRED_FIELDS = {
    "interactions": ("user_id", "item_id"),
    "items": ("item_id",),
    "users": ("user_id",),
    "social": ("user_id", "friend_id"),
    "item_tags": ("item_id", "tag"),
    "tag_names": ("tag_id", "name"),
}
# The id fields each source's records carry, as field -> (id kind, record attribute). One table
# for config checks, reference joins and the records module.
ID_FIELDS = {
    "interactions": {"user_id": ("user", "user"), "item_id": ("item", "item")},
    "items": {"item_id": ("item", "item")},
    "users": {"user_id": ("user", "user")},
    "social": {"user_id": ("user", "user"), "friend_id": ("user", "friend")},
    "item_tags": {"item_id": ("item", "item"), "tag": ("tag", "tag")},
    "tag_names": {"tag_id": ("tag", "tag")},
}
# The sources whose rows make ids of a kind known, for ``references``.
DEFINES = {"user": ("users", "interactions"), "item": ("items", "interactions"), "tag": ("tag_names",)}


def id_kind(kind: str, field: str) -> str:
    """``user``, ``item`` or ``tag``: what the ``field`` of a ``kind`` row names."""
    return ID_FIELDS[kind][field][0]


def id_attribute(kind: str, field: str) -> str:
    """The attribute of a parsed ``kind`` record that holds ``field``."""
    return ID_FIELDS[kind][field][1]


def defining_field(target: str, id_kind_: str) -> str:
    """The field of ``target`` rows that defines ids of ``id_kind_``."""
    return next(f for f, (k, _) in ID_FIELDS[target].items() if k == id_kind_)


PRESETS = ("synthetic", "movielens-100k", "lastfm-2k")
# Interaction times outside [start, end) are dead-lettered: by default 1970-01-01 up to 2100-01-01.
DEFAULT_TIMESTAMP_WINDOW = (0, 4_102_444_800)
INT64 = (-(2**63), 2**63 - 1)  # what a tf.Example int64 holds; every window lies inside it


class ConfigError(ValueError):
    """A source config that cannot be used; ``path`` is its file, when it came from one."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


def instant(value: Any) -> int | float:
    """Unix seconds from a number, a numeric string, or an ISO-8601 date or date-time.

    A date-time without a zone is UTC. Rows and ``timestamp_window`` follow this one rule.

    Raises:
      ValueError: the value is none of those, or not finite.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)  # exact, unlike float, for large integers
        except ValueError:
            pass
        try:
            value = float(text)
        except ValueError:
            value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)  # YAML reads 1970-01-01 as a date
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=value.tzinfo or datetime.UTC).timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a time: {value!r}")
    return value


def describe_instant(seconds: float) -> str:
    """``2100-01-01`` (or ``2100-01-01T06:00:00Z``) for Unix seconds; the number when out of range."""
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return str(seconds)
    return moment.strftime("%Y-%m-%d" if moment.time() == datetime.time() else "%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One raw source.

    Attributes:
      path: file name or glob, relative to the dataset's input directory.
      format: ``csv`` (any delimiter), ``jsonl`` or ``parquet`` (columns by name).
      delimiter: field separator of ``csv``.
      header: whether the first line of each ``csv`` file names the columns.
      encoding: text encoding; a line that does not decode is dead-lettered.
      fields: canonical field -> column name or index.
      list_delimiter: separator of multi-valued text columns (categories, tags).
      category_flags: column -> category name, for 0/1 flag columns.
      attributes: profile columns (users) as ``(column, name)`` pairs, written as
        ``name=value``; YAML gives a list of header names or a column -> name map.
      columns: how many columns a row of a headerless ``csv`` has (a header says it
        itself); rows with fewer or more are dead-lettered.
      buckets: attribute column -> ascending boundaries; a numeric value becomes the
        bucket it falls in (``age=[25,35)``) instead of itself.
      references: field -> source kind that must know the field's value.
      timestamp_window: ``interactions`` only: Unix seconds ``[start, end)``; a time outside it
        is dead-lettered (``bad_timestamp``). YAML gives two dates, date-times or numbers.
    """

    path: str
    format: str = "csv"
    delimiter: str = ","
    header: bool = False
    encoding: str = "utf-8"
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    list_delimiter: str = "|"
    category_flags: Mapping[Any, str] = dataclasses.field(default_factory=dict)
    attributes: tuple[tuple[Any, str], ...] = ()
    columns: int | None = None
    buckets: Mapping[Any, tuple[float, ...]] = dataclasses.field(default_factory=dict)
    references: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timestamp_window: tuple[int, int] = DEFAULT_TIMESTAMP_WINDOW


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    sources: Mapping[str, SourceSpec]

    def __post_init__(self):
        # A tag id with no name cannot become a feature: with ``tag_names`` present, it is an
        # unknown reference however the spec was built.
        if "tag_names" in self.sources and "item_tags" in self.sources:
            tags = self.sources["item_tags"]
            if "tag" not in tags.references:
                named = dataclasses.replace(tags, references={"tag": "tag_names", **tags.references})
                object.__setattr__(self, "sources", {**self.sources, "item_tags": named})

    def source(self, kind: str) -> SourceSpec | None:
        return self.sources.get(kind)


def from_dict(values: Mapping[str, Any]) -> DatasetSpec:
    """Builds and checks a dataset spec from parsed YAML.

    Raises:
      ConfigError: the values do not describe a usable dataset.
    """
    if not isinstance(values, Mapping) or not isinstance(values.get("sources") or {}, Mapping):
        raise ConfigError(
            "a source config is a mapping whose 'sources' maps each source kind to its settings"
        )
    sources = {}
    for kind, raw in (values.get("sources") or {}).items():
        if kind not in KINDS:
            raise ConfigError(f"unknown source kind {kind!r}; expected one of {KINDS}")
        if not isinstance(raw, Mapping):
            raise ConfigError(f"source {kind!r}: expected a mapping of settings (path, fields, ...)")
        raw = dict(raw)
        attributes = raw.get("attributes") or ()
        if isinstance(attributes, Mapping):
            raw["attributes"] = tuple((column, str(name)) for column, name in attributes.items())
        else:
            raw["attributes"] = tuple((column, str(column)) for column in attributes)
        raw["buckets"] = {c: _boundaries(kind, c, b) for c, b in (raw.get("buckets") or {}).items()}
        if "timestamp_window" in raw:
            raw["timestamp_window"] = _window(kind, raw["timestamp_window"])
        unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(SourceSpec)})
        if unknown:
            raise ConfigError(f"source {kind!r}: unknown settings {unknown} (docs/sources.md lists them)")
        spec = SourceSpec(**raw)
        missing = [f for f in REQUIRED_FIELDS[kind] if f not in spec.fields]
        if missing:
            raise ConfigError(f"source {kind!r} does not map required fields {missing}")
        if spec.format not in ("csv", "jsonl", "parquet"):
            raise ConfigError(f"source {kind!r}: unsupported format {spec.format!r}")
        sources[kind] = spec
    if "interactions" not in sources:
        raise ConfigError("a dataset config needs an 'interactions' source")
    if "tag_names" in sources and "item_tags" not in sources:
        raise ConfigError("source 'tag_names' names the tags of 'item_tags', which is not configured")
    dataset = DatasetSpec(name=str(values.get("name", "custom")), sources=sources)
    for kind, source in dataset.sources.items():
        _check_references(kind, source, dataset.sources)
        _check_buckets(kind, source)
    return dataset


def _boundaries(kind: str, column: Any, values: Any) -> tuple[float, ...]:
    try:
        bounds = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"source {kind!r}: buckets of {column!r} must be a list of numbers") from None
    if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ConfigError(f"source {kind!r}: buckets of {column!r} must be ascending and non-empty")
    return bounds


def _window(kind: str, values: Any) -> tuple[int, int]:
    if kind != "interactions":
        raise ConfigError(f"source {kind!r}: timestamp_window applies to 'interactions' only")
    try:
        if isinstance(values, str | bytes) or len(values) != 2:
            raise ValueError
        start, end = (instant(v) for v in values)
    except (TypeError, ValueError):
        example = "[1970-01-01, 2100-01-01]"
        raise ConfigError(f"source {kind!r}: timestamp_window must be two times, e.g. {example}") from None
    if not INT64[0] <= start < end <= INT64[1]:
        raise ConfigError(f"source {kind!r}: timestamp_window must be ascending and within int64")
    return math.ceil(start), math.ceil(end)


def _check_references(kind: str, spec: SourceSpec, sources: Mapping[str, SourceSpec]) -> None:
    for field, target in spec.references.items():
        if field not in ID_FIELDS[kind]:
            raise ConfigError(f"source {kind!r}: only {sorted(ID_FIELDS[kind])} can reference, not {field!r}")
        if field not in spec.fields:
            raise ConfigError(f"source {kind!r}: reference field {field!r} is not mapped in 'fields'")
        allowed = DEFINES[id_kind(kind, field)]
        if target not in allowed:
            raise ConfigError(f"source {kind!r}: {field!r} can reference {allowed}, not {target!r}")
        if target not in sources:
            raise ConfigError(f"source {kind!r}: {field!r} references {target!r}, which is not configured")
        if target == kind:
            raise ConfigError(f"source {kind!r}: {field!r} cannot reference its own source")


def _check_buckets(kind: str, spec: SourceSpec) -> None:
    if not spec.buckets:
        return
    if kind != "users":
        raise ConfigError(f"source {kind!r}: buckets apply to the attributes of 'users' only")
    columns = {column for column, _ in spec.attributes}
    stray = [column for column in spec.buckets if column not in columns]
    if stray:
        raise ConfigError(f"source {kind!r}: buckets name columns {stray} that are not attributes")


def load(path: str) -> DatasetSpec:
    """The dataset spec of a YAML source config.

    Raises:
      ConfigError: the file is missing, unreadable, not YAML, or not a usable config.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"no source config {path!r} (built-in datasets: {', '.join(PRESETS)})", path
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the source config {path!r}: {err}", path) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML: {problem}{where}", path) from None
    try:
        return from_dict(values)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}", path) from None


def preset(name: str) -> DatasetSpec:
    if name not in PRESETS:
        raise ConfigError(f"unknown dataset {name!r}; built in: {', '.join(PRESETS)}")
    import yaml

    text = importlib.resources.files("msrec").joinpath("presets", f"{name}.yaml").read_text("utf-8")
    return from_dict(yaml.safe_load(text))


def resolve(input_dir: str, spec: SourceSpec) -> str:
    return posixpath.join(input_dir, spec.path)
