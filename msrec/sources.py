"""Declarative source configs: which raw files a dataset has and how their columns map.

A dataset is described by a YAML file (presets for the built-in datasets live in
``msrec/presets/``). Each source names a file or glob, its format and how its
columns map to msrec's canonical fields:

* ``interactions``: ``user_id``, ``item_id``, optional ``timestamp`` and ``weight``;
* ``items``: ``item_id`` and any of ``categories``, ``tags``, ``title``;
  ``category_flags`` maps 0/1 flag columns to category names (MovieLens genres);
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
(``{item_id: items}``); rows that break it are dead-lettered.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import itertools
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
    """Builds and checks a dataset spec from parsed YAML."""
    sources = {}
    for kind, raw in (values.get("sources") or {}).items():
        if kind not in KINDS:
            raise ValueError(f"unknown source kind {kind!r}; expected one of {KINDS}")
        raw = dict(raw)
        attributes = raw.get("attributes") or ()
        if isinstance(attributes, Mapping):
            raw["attributes"] = tuple((column, str(name)) for column, name in attributes.items())
        else:
            raw["attributes"] = tuple((column, str(column)) for column in attributes)
        raw["buckets"] = {c: _boundaries(kind, c, b) for c, b in (raw.get("buckets") or {}).items()}
        spec = SourceSpec(**raw)
        missing = [f for f in REQUIRED_FIELDS[kind] if f not in spec.fields]
        if missing:
            raise ValueError(f"source {kind!r} does not map required fields {missing}")
        if spec.format not in ("csv", "jsonl", "parquet"):
            raise ValueError(f"source {kind!r}: unsupported format {spec.format!r}")
        sources[kind] = spec
    if "interactions" not in sources:
        raise ValueError("a dataset config needs an 'interactions' source")
    if "tag_names" in sources and "item_tags" not in sources:
        raise ValueError("source 'tag_names' names the tags of 'item_tags', which is not configured")
    dataset = DatasetSpec(name=str(values.get("name", "custom")), sources=sources)
    for kind, source in dataset.sources.items():
        _check_references(kind, source, dataset.sources)
        _check_buckets(kind, source)
    return dataset


def _boundaries(kind: str, column: Any, values: Any) -> tuple[float, ...]:
    try:
        bounds = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"source {kind!r}: buckets of {column!r} must be a list of numbers") from None
    if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"source {kind!r}: buckets of {column!r} must be ascending and non-empty")
    return bounds


def _check_references(kind: str, spec: SourceSpec, sources: Mapping[str, SourceSpec]) -> None:
    for field, target in spec.references.items():
        if field not in ID_FIELDS[kind]:
            raise ValueError(f"source {kind!r}: only {sorted(ID_FIELDS[kind])} can reference, not {field!r}")
        if field not in spec.fields:
            raise ValueError(f"source {kind!r}: reference field {field!r} is not mapped in 'fields'")
        allowed = DEFINES[id_kind(kind, field)]
        if target not in allowed:
            raise ValueError(f"source {kind!r}: {field!r} can reference {allowed}, not {target!r}")
        if target not in sources:
            raise ValueError(f"source {kind!r}: {field!r} references {target!r}, which is not configured")
        if target == kind:
            raise ValueError(f"source {kind!r}: {field!r} cannot reference its own source")


def _check_buckets(kind: str, spec: SourceSpec) -> None:
    if not spec.buckets:
        return
    if kind != "users":
        raise ValueError(f"source {kind!r}: buckets apply to the attributes of 'users' only")
    columns = {column for column, _ in spec.attributes}
    stray = [column for column in spec.buckets if column not in columns]
    if stray:
        raise ValueError(f"source {kind!r}: buckets name columns {stray} that are not attributes")


def load(path: str) -> DatasetSpec:
    import yaml

    with open(path, encoding="utf-8") as f:
        return from_dict(yaml.safe_load(f))


def preset(name: str) -> DatasetSpec:
    if name not in PRESETS:
        raise ValueError(f"unknown dataset {name!r}; built in: {', '.join(PRESETS)}")
    import yaml

    text = importlib.resources.files("msrec").joinpath("presets", f"{name}.yaml").read_text("utf-8")
    return from_dict(yaml.safe_load(text))


def resolve(input_dir: str, spec: SourceSpec) -> str:
    return posixpath.join(input_dir, spec.path)
