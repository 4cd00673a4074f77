"""Declarative source configs: which raw files a dataset has and how their columns map.

A dataset is described by a YAML file (presets for the built-in datasets live in
``msrec/presets/``). Each source names a file or glob, its format and how its
columns map to msrec's canonical fields:

* ``interactions``: ``user_id``, ``item_id``, optional ``timestamp`` and ``weight``;
* ``items``: ``item_id`` and any of ``categories``, ``tags``, ``title``;
  ``category_flags`` maps 0/1 flag columns to category names (MovieLens genres);
* ``users``: ``user_id``; every column listed in ``attributes`` becomes a
  ``name=value`` profile attribute;
* ``social``: ``user_id``, ``friend_id``.

A column is named by its header name (CSV with header, JSONL keys) or its
0-based index (headerless CSV/TSV). Only ``interactions`` is required.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import posixpath
from typing import Any, Mapping

KINDS = ("interactions", "items", "users", "social")
REQUIRED_FIELDS = {
    "interactions": ("user_id", "item_id"),
    "items": ("item_id",),
    "users": ("user_id",),
    "social": ("user_id", "friend_id"),
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
        spec = SourceSpec(**raw)
        missing = [f for f in REQUIRED_FIELDS[kind] if f not in spec.fields]
        if missing:
            raise ValueError(f"source {kind!r} does not map required fields {missing}")
        if spec.format not in ("csv", "jsonl", "parquet"):
            raise ValueError(f"source {kind!r}: unsupported format {spec.format!r}")
        sources[kind] = spec
    if "interactions" not in sources:
        raise ValueError("a dataset config needs an 'interactions' source")
    return DatasetSpec(name=str(values.get("name", "custom")), sources=sources)


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
