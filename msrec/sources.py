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
# Which ids a source defines, for ``references``: user ids come from ``users`` or ``interactions``,
# item ids from ``items`` or ``interactions``, tag ids from ``tag_names``.
REFERABLE = {
    "user_id": ("users", "interactions"),
    "friend_id": ("users", "interactions"),
    "item_id": ("items", "interactions"),
    "tag": ("tag_names",),
}
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
    if "tag_names" in sources:
        if "item_tags" not in sources:
            raise ValueError("source 'tag_names' names the tags of 'item_tags', which is not configured")
        # A tag id with no name cannot become a feature: it is an unknown reference.
        tags = sources["item_tags"]
        sources["item_tags"] = dataclasses.replace(tags, references={"tag": "tag_names", **tags.references})
    for kind, spec in sources.items():
        _check_references(kind, spec, sources)
    return DatasetSpec(name=str(values.get("name", "custom")), sources=sources)


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
        if field not in spec.fields:
            raise ValueError(f"source {kind!r}: reference field {field!r} is not mapped in 'fields'")
        if target not in REFERABLE.get(field, ()):
            raise ValueError(
                f"source {kind!r}: {field!r} can reference {REFERABLE.get(field, ())}, not {target!r}"
            )
        if target not in sources:
            raise ValueError(f"source {kind!r}: {field!r} references {target!r}, which is not configured")
        if target == kind:
            raise ValueError(f"source {kind!r}: {field!r} cannot reference its own source")


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
