"""``recommend_user_explained``'s answer in plain words, for ``msrec recommend --explain`` and the demo.

The signature gives, per returned item, the history items that contributed most (with the part of
their contribution that is item-graph evidence) and a friend who has the item or whose taste fits it
best (``trainer/explain.py``); this module only words them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from msrec import signatures as S


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def reasons(out: Mapping[str, Any], row: int, slot: int) -> str:
    """Why the item in ``slot`` of ``row`` was recommended, as one clause."""
    because = []
    for item, evidence in zip(
        out[S.REASON_ITEM_IDS][row][slot], out[S.REASON_EVIDENCE][row][slot], strict=True
    ):
        if _text(item):
            how = "often had together with it" if evidence > 0 else "alike in the model's view"
            because.append(f"{_text(item)} ({how})")
    clause = f"because you had {', '.join(because)}" if because else "among the most popular items"
    friend = _text(out[S.REASON_FRIEND_IDS][row][slot])
    if friend:
        has = bool(out[S.REASON_FRIEND_HAS_ITEM][row][slot])
        clause += (
            f"; your friend {friend} has it" if has else f"; of your friends, {friend} would like it most"
        )
    return clause


def sentences(out: Mapping[str, Any], slots: Sequence[int], row: int = 0) -> list[str]:
    """One numbered line per returned item of ``row``: the item, its score and why."""
    return [
        f"{rank}. {_text(out[S.ITEM_IDS][row][slot])} (score {float(out[S.SCORES][row][slot]):.3f}): "
        f"{reasons(out, row, slot)}"
        for rank, slot in enumerate(slots, start=1)
    ]
