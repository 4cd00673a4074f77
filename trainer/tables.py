"""What a model is built from, read from a preprocessed data directory in one place.

The model, its towers and the export receive a ``Tables`` and do no I/O of their
own, so a test can build one from a few in-memory rows; ``read`` is the one
builder that turns a data directory (``msrec/paths.py``) into it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from msrec import features as F
from msrec import paths
from trainer import catalog, data


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
      scoring_graph: the item scoring graph (``data.scoring_graph``), read only for a model that
        trains with its evidence (``model.evidence_in_loss``); else None.
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
    scoring_graph: dict[str, list[tuple[str, float]]] | None = None

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


def read_users(data_dir: str, tables: Tables) -> UserRows:
    """The ``users`` records of a data directory, with known items as catalog positions."""
    query = F.select(tables.contract, F.QUERY)
    seen = F.by_name(tables.contract)[F.SEEN_ITEM_IDS]
    values = data.load_all(data_dir, paths.USERS, (*query, seen))
    known = values[F.SEEN_ITEM_IDS]
    histories = values[F.HISTORY_ITEM_IDS]
    if len(known) and not any(len(k) for k in known) and any(len(h[0]) for h in histories):
        raise ValueError(
            f"{data_dir}/{paths.USERS}/ records carry no known items: it was preprocessed by an "
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


def read(data_dir: str, with_scoring_graph: bool = False, refit: bool = False) -> Tables:
    """The ``Tables`` of a finished preprocessing output (the scoring graph only when asked: over
    TRAIN + VALIDATION when ``refit``)."""
    meta = data.metadata(data_dir)
    contract = F.from_dict(meta["features"])
    sizes = meta["vocabulary_sizes"]
    ids, values = catalog.read(data_dir, contract)
    text_ids, text_vectors = read_text(data_dir, meta)
    return Tables(
        contract=contract,
        vocabularies={n: paths.vocab_file(data_dir, n) for n in F.VOCABULARIES if sizes.get(n, 0) > 0},
        item_counts=data.item_popularity(data_dir),
        catalog_ids=ids,
        catalog=values,
        text_ids=text_ids,
        text_vectors=text_vectors,
        text_encoder=meta.get("text_embedding", {}).get("encoder", ""),
        text_fields=tuple(meta.get("data_config", {}).get("text_fields", F.TEXT_FIELDS)),
        scoring_graph=data.scoring_graph(data_dir, refit) if with_scoring_graph else None,
    )


def read_text(data_dir: str, meta: dict) -> tuple[list[str], np.ndarray | None]:
    """The ``item_text/`` records: item ids and their sentence vectors (none if not embedded)."""
    dim = meta.get("text_embedding", {}).get("dim", 0)
    if not dim:
        return [], None
    records = F.text_records(dim)
    values = data.load_all(data_dir, paths.ITEM_TEXT, (records[0], records[2]))
    return catalog.decode(values[F.ITEM_ID]), np.asarray(values[F.ITEM_TEXT_VECTOR], np.float32)
