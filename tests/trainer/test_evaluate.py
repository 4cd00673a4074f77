"""trainer/evaluate.py's segments of held-out examples, on a hand-made batch."""

import numpy as np
import tensorflow as tf

from msrec import features as F
from trainer import evaluate


def test_segments_by_history_length_friends_and_target_popularity():
    batch = {F.FRIEND_IDS: tf.constant([[b"u9", b""], [b"", b""], [b"u1", b"u2"]])}
    seen = [[b"i1", b"i2"], [b"i%d" % n for n in range(4)], [b"i%d" % n for n in range(21)]]
    got = evaluate._segments(batch, seen, np.array([9.0, 0.0, 3.0]), head_count=5.0)
    assert got == [
        {"users: 1-2 known items", "with friends", "items: head"},
        {"users: 3-5", "without friends", "items: tail"},
        {"users: >20", "with friends", "items: torso"},
    ]
