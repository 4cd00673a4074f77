"""The data-directory handle: a finished preprocessing output, opened once per process.

``DataDir.open(path)`` checks the ``_SUCCESS`` marker and reads ``metadata.json`` once; the
trainer, the evaluation, the export and the app receive the handle (or what they need from it)
instead of a path string that each of them reopens. It knows what the data is (the feature
contract, the vocabularies that exist, whether interactions are timed, the text encoder), resolves
``auto`` settings against it, and reads the small side files (TRAIN popularity, the item scoring
graphs) at most once each. The TFRecords themselves are read by the stage that needs them
(``trainer/data.py``) through ``records``.

It is core: it imports no stage and no TensorFlow at import time (``tf.io.gfile`` reads ``gs://``
paths, and is imported when a file is first read).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from msrec import auto, errors, paths
from msrec import config as msrec_config
from msrec import features as F

log = logging.getLogger(__name__)

Graph = dict[str, list[tuple[str, float]]]


def _gfile():
    import tensorflow as tf  # noqa: PLC0415 (a data directory may be on gs://)

    return tf.io.gfile


def read_lines(path: str) -> list[str]:
    with _gfile().GFile(path) as f:
        return [line for line in f.read().split("\n") if line]


class DataDir:
    """One finished ``msrec preprocess`` output.

    Attributes:
      path: the directory (local or ``gs://``).
      metadata: its ``metadata.json``.
      contract: the feature contract the records were written with.
    """

    def __init__(self, path: str, metadata: dict[str, Any]):
        self.path = path
        self.metadata = metadata
        self.contract = F.from_dict(metadata["features"])
        self._item_counts: dict[str, int] | None = None
        self._graphs: dict[bool, Graph] = {}

    @classmethod
    def open(cls, path: str) -> DataDir:
        """Reads ``path``'s metadata.

        Raises:
          errors.UnfinishedInput: ``path`` does not exist or is not a finished preprocessing output.
        """
        paths.require_complete(path)
        with _gfile().GFile(paths.join(path, paths.METADATA)) as f:
            return cls(path, json.load(f))

    def __repr__(self) -> str:
        return f"DataDir({self.path!r})"

    @property
    def timed(self) -> bool:
        return bool(self.metadata.get("data_profile", {}).get("timed", True))

    @property
    def text_encoder(self) -> str:
        """The ``data.text_encoder`` that embedded the items' text ("" when none did)."""
        return self.metadata.get("text_embedding", {}).get("encoder", "")

    @property
    def text_dim(self) -> int:
        return self.metadata.get("text_embedding", {}).get("dim", 0)

    @property
    def text_fields(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("data_config", {}).get("text_fields", F.TEXT_FIELDS))

    def resolve(self, config: msrec_config.Config) -> tuple[msrec_config.Config, dict[str, str]]:
        """``config`` with its ``auto`` settings chosen for this data, and why (``msrec/auto.py``)."""
        return auto.resolve(config, self.metadata)

    def examples(self, split: str) -> int:
        """How many records ``split`` holds (``train``, ``validation``, ``test``)."""
        return int(self.metadata.get(f"{split}_examples", 0))

    def vocabularies(self) -> dict[str, str]:
        """Vocabulary name -> its file, for the non-empty vocabularies."""
        sizes = self.metadata["vocabulary_sizes"]
        return {n: paths.vocab_file(self.path, n) for n in F.VOCABULARIES if sizes.get(n, 0) > 0}

    def records(self, *names: str) -> list[str]:
        """The TFRecord files of the named outputs (splits, ``candidates``, ``users``, ...), sorted."""
        gfile = _gfile()
        files = sorted(f for n in names for f in gfile.glob(paths.records_glob(self.path, n)))
        if not files:
            raise errors.UnfinishedInput(f"{self.path} has no records for {', '.join(names)}")
        return files

    def item_counts(self) -> dict[str, int]:
        """TRAIN interactions per item id (read once)."""
        if self._item_counts is None:
            ids = read_lines(paths.vocab_file(self.path, F.ITEM_VOCAB))
            counts = read_lines(paths.item_counts_file(self.path))
            self._item_counts = dict(zip(ids, map(int, counts), strict=True))
        return self._item_counts

    def scoring_graph(self, refit: bool = False) -> Graph:
        """Per item, its sources in the item scoring graph and their weights (read once per kind).

        ``refit``: the graph over TRAIN + VALIDATION, for a model refit on both; data preprocessed
        without it (``data.regression_refit=false``) has only the TRAIN graph, which is then used
        (and said in the log).
        """
        if refit not in self._graphs:
            self._graphs[refit] = self._read_graph(refit)
        return self._graphs[refit]

    def _read_graph(self, refit: bool) -> Graph:
        glob = _gfile().glob
        if refit:
            files = glob(paths.join(self.path, paths.SCORING_GRAPH_REFIT, "part-*.jsonl"))
            if files:
                return _parse_graph(files)
            log.warning(
                "%s has no %s/ (preprocessed with data.regression_refit=false): the refit model scores "
                "with the TRAIN graph; preprocess again for the graph over TRAIN + VALIDATION",
                self.path,
                paths.SCORING_GRAPH_REFIT,
            )
        files = glob(paths.join(self.path, paths.SCORING_GRAPH, "part-*.jsonl"))
        if not files:
            raise errors.UnfinishedInput(
                f"{self.path} has no {paths.SCORING_GRAPH}/: it was preprocessed by an older msrec; "
                "run `msrec preprocess` again (or set model.graph_score_weight=0)"
            )
        return _parse_graph(files)


def _parse_graph(files: list[str]) -> Graph:
    graph = {}
    for path in files:
        for line in read_lines(path):
            item, sources = json.loads(line)
            graph[item] = [(source, float(weight)) for source, weight in sources]
    return graph
