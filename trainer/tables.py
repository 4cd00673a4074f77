"""What a model is built from and ranks with, read from a data directory in one place.

The model, its towers, the scorer and the export receive a ``Tables`` and do no I/O of
their own, so a test can build one from a few in-memory rows; ``read`` is the one builder
that turns a data-directory handle (``msrec.datadir.DataDir``) into it, and ``read_users``
the one that reads the users an export serves.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from msrec import errors, paths
from msrec import features as F
from msrec.datadir import DataDir, Graph
from trainer import catalog
from trainer import data as data_module


@dataclasses.dataclass(frozen=True)
class Tables:
    """Vocabularies, TRAIN popularity and the catalog of one data directory.

    Attributes:
      contract: the feature contract the data was written with.
      vocabularies: vocabulary name -> its values, or the path of its file (a file
        becomes a SavedModel asset on export); only non-empty vocabularies.
      item_counts: TRAIN interactions per item id (items never seen in TRAIN: absent).
      catalog_ids: every catalog item id, in ranking order.
      catalog: the candidate features of ``catalog_ids``, column by column.
      text_ids, text_vectors: the items whose text preprocessing embedded, and their frozen
        sentence vectors ``[len(text_ids), dim]`` (``None`` without a text encoder).
      text_encoder, text_fields: the ``data.text_encoder`` that made them and the item fields
        its text joined (the export embeds new items' text the same way).
      scoring_graph: the item scoring graph over the data the model learns from (TRAIN, or
        TRAIN + VALIDATION for a refit model), when its ranking or its loss reads it; else None.
      trained_items: the items some interaction of the data the model learns from has (TRAIN, plus
        the VALIDATION targets for a refit model): the others are cold (``trainer/scoring.py``).
    """

    contract: tuple[F.Feature, ...]
    vocabularies: dict[str, str | list[str]]
    item_counts: dict[str, int]
    catalog_ids: list[str]
    catalog: dict[str, np.ndarray]
    text_ids: list[str] = dataclasses.field(default_factory=list)
    text_vectors: np.ndarray | None = None
    text_encoder: str = ""
    text_fields: tuple[str, ...] = F.TEXT_FIELDS
    scoring_graph: Graph | None = None
    trained_items: frozenset[str] = frozenset()

    @property
    def history_length(self) -> int:
        return F.by_name(self.contract)[F.HISTORY_ITEM_IDS].length


@dataclasses.dataclass(frozen=True)
class UserRows:
    """Every user's latest query features (TRAIN + VALIDATION) and known items, for serving.

    Attributes:
      user_ids: raw user ids, one per row.
      features: query feature name -> ``[users, length]`` array (the user id excluded).
      known_positions: per user, the catalog positions of every item they are known to have.
    """

    user_ids: list[str]
    features: dict[str, np.ndarray]
    known_positions: list[np.ndarray]


def read_users(data: DataDir, tables: Tables) -> UserRows:
    """The ``users`` records of a data directory, with known items as catalog positions."""
    query = F.select(tables.contract, F.QUERY)
    seen = F.by_name(tables.contract)[F.SEEN_ITEM_IDS]
    values = data_module.load_all(data, paths.USERS, (*query, seen))
    known = values[F.SEEN_ITEM_IDS]
    histories = values[F.HISTORY_ITEM_IDS]
    if len(known) and not any(len(k) for k in known) and any(len(h[0]) for h in histories):
        raise errors.UnfinishedInput(
            f"{data.path}/{paths.USERS}/ records carry no known items: it was preprocessed by an "
            "older msrec; run `msrec preprocess` again"
        )
    position = {item: i for i, item in enumerate(tables.catalog_ids)}
    return UserRows(
        user_ids=catalog.decode(values[F.USER_ID]),
        features={f.name: values[f.name] for f in query if f.name != F.USER_ID},
        known_positions=[
            np.array([position[i] for i in catalog.decode(k) if i in position], np.int32) for k in known
        ],
    )


def read(data: DataDir, refit: bool = False, scoring_graph: bool = False) -> Tables:
    """The ``Tables`` of a finished preprocessing output for a model trained on TRAIN, or on TRAIN +
    VALIDATION when ``refit``; with the scoring graph of the same data when ``scoring_graph``."""
    contract = data.contract
    ids, values = catalog.read(data, contract)
    text_ids, text_vectors = read_text(data)
    counts = data.item_counts()
    trained = {item for item, count in counts.items() if count > 0}
    if refit:
        targets = data_module.load_all(data, "validation", (F.by_name(contract)[F.ITEM_ID],))
        trained.update(catalog.decode(targets[F.ITEM_ID]))
    return Tables(
        contract=contract,
        vocabularies=data.vocabularies(),
        item_counts=counts,
        catalog_ids=ids,
        catalog=values,
        text_ids=text_ids,
        text_vectors=text_vectors,
        text_encoder=data.text_encoder,
        text_fields=data.text_fields,
        scoring_graph=data.scoring_graph(refit) if scoring_graph else None,
        trained_items=frozenset(trained),
    )


def read_text(data: DataDir) -> tuple[list[str], np.ndarray | None]:
    """The ``item_text/`` records: item ids and their sentence vectors (none if not embedded)."""
    if not data.text_dim:
        return [], None
    records = F.text_records(data.text_dim)
    values = data_module.load_all(data, paths.ITEM_TEXT, (records[0], records[2]))
    return catalog.decode(values[F.ITEM_ID]), np.asarray(values[F.ITEM_TEXT_VECTOR], np.float32)
