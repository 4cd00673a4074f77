"""Evaluation of an export through its serving signatures: what a client gets, measured.

The version directory is loaded the way TF Serving loads it (the TF1 session loader with
the ``serve`` tag, signatures fed and fetched by their SignatureDef tensor names), and
each held-out user is asked for through ``recommend_user``, exactly as a client asks.
The target's rank comes from the served list (``msrec.metrics.ranks_in_lists``), so the
figures are those of the artifact, not of the in-process model; ``msrec evaluate
--export`` and ``msrec benchmark`` report them beside the in-process ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from msrec import features as F
from msrec import metrics
from msrec import signatures as S


@dataclasses.dataclass
class ServedLists:
    """Per user: the target's rank in the served list, and how many known items the list held."""

    ranks: np.ndarray
    known_returned: int
    list_length: int


class SessionSignature:
    """One signature of a SavedModel, run through a TF1 session as TF Serving runs it."""

    def __init__(self, version_dir: str, name: str):
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph)
        with self._graph.as_default():
            loaded = tf.compat.v1.saved_model.loader.load(self._session, [S.SERVE_TAG], version_dir)
        if name not in loaded.signature_def:
            raise KeyError(f"{version_dir} has no signature {name!r}: {sorted(loaded.signature_def)}")
        signature = loaded.signature_def[name]
        self._inputs = {alias: t.name for alias, t in signature.inputs.items()}
        self._outputs = {alias: t.name for alias, t in signature.outputs.items()}

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = {self._inputs[alias]: value for alias, value in inputs.items()}
        return self._session.run(self._outputs, feed)

    def close(self) -> None:
        self._session.close()


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def served_lists(
    version_dir: str,
    user_ids: Sequence[str],
    targets: Sequence[str],
    seen: Sequence[Sequence[str]],
    batch_size: int = 256,
) -> ServedLists:
    """Asks ``recommend_user`` for every user; ranks each target in the list it got.

    Args:
      version_dir: ``<base>/<version>/`` as written by ``msrec export``.
      user_ids, targets: the held-out users and their held-out items (raw ids).
      seen: per user, the items evaluation excludes (TRAIN + VALIDATION): a served list
        holding one of them is counted in ``known_returned``.
      batch_size: users per request (at most the export's row cap).
    """
    recommend = SessionSignature(version_dir, S.RECOMMEND_USER)
    ranks, known, length = [], 0, 0
    try:
        for part in _batches(len(user_ids), batch_size):
            ids = np.array([u.encode() for u in user_ids[part]], dtype=object)
            out = recommend(**{F.USER_ID: ids})
            items = np.array([[i.decode() for i in row] for row in out[S.ITEM_IDS]], dtype=object)
            ranks.append(metrics.ranks_in_lists(items, out[S.SCORES], targets[part]))
            known += sum(len(set(row) & set(s)) for row, s in zip(items, seen[part], strict=True))
            length = items.shape[1]
    finally:
        recommend.close()
    return ServedLists(np.concatenate(ranks) if ranks else np.zeros(0), known, length)


def evaluate(version_dir: str, held_out: dict[str, list], batch_size: int = 256) -> dict:
    """PROTOCOL.md metrics of the served lists (K-limited: a target beyond the list counts as a miss).

    Args:
      held_out: ``user_id``, ``item_id`` and ``seen_item_ids`` columns of a held-out split (raw ids).

    Returns:
      The metrics, plus ``known_items_returned`` (must be 0) and ``list_length``; ``MRR`` counts
      only targets inside the list, so it is a lower bound of the full-catalog MRR.
    """
    lists = served_lists(
        version_dir,
        list(held_out[F.USER_ID]),
        np.array(held_out[F.ITEM_ID], dtype=object),
        held_out[F.SEEN_ITEM_IDS],
        batch_size,
    )
    out = metrics.summarize(lists.ranks)
    out["known_items_returned"] = lists.known_returned
    out["list_length"] = lists.list_length
    return out
