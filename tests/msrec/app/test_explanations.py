"""recommend_user_explained's outputs in plain words (``msrec recommend --explain``, the demo)."""

import numpy as np

from msrec import signatures as S
from msrec.app import demo, explanations

OUT = {
    S.ITEM_IDS: np.array([[b"i7", b"i9", b""]], dtype=object),
    S.SCORES: np.array([[4.25, 1.5, -np.inf]], np.float32),
    S.REASON_ITEM_IDS: np.array([[[b"i1", b"i2"], [b"i3", b""], [b"", b""]]], dtype=object),
    S.REASON_EVIDENCE: np.array([[[0.4, 0.0], [-0.1, 0.0], [0.0, 0.0]]], np.float32),
    S.REASON_FRIEND_IDS: np.array([[b"u5", b"u6", b""]], dtype=object),
    S.REASON_FRIEND_HAS_ITEM: np.array([[True, False, False]]),
}
FIRST = (
    "1. i7 (score 4.250): because you had i1 (often had together with it), i2 (alike in the model's view);"
    " your friend u5 has it"
)


def test_each_item_says_which_history_items_and_which_friend_brought_it():
    assert explanations.sentences(OUT, [0, 1]) == [
        FIRST,
        "2. i9 (score 1.500): because you had i3 (alike in the model's view);"
        " of your friends, u6 would like it most",
    ]
    assert explanations.reasons(OUT, 0, 2) == "among the most popular items"


def test_the_demo_shows_one_explained_list(capsys):
    class Client:
        def predict(self, inputs, signature_name):
            assert signature_name == S.RECOMMEND_USER_EXPLAINED and list(inputs["user_id"]) == ["u3"]
            return OUT

    demo._show_explanation(Client(), "u3", shown=1)
    assert capsys.readouterr().out.splitlines() == [
        "   msrec recommend --user_id u3 --explain:",
        "     " + FIRST,
    ]
