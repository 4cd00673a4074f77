import numpy as np
import pytest
import tensorflow as tf

from trainer import data
from trainer.scoring import Scorer

ITEMS = ["a", "b", "c"]
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], np.float32)
# a's source is b (0.5); b's are a (0.25) and c (1.0); c's is "x", which is not in the
# catalog, and so is "y", whose source a must not count.
GRAPH = {"a": [("b", 0.5)], "b": [("a", 0.25), ("c", 1.0)], "c": [("x", 0.75)], "y": [("a", 9.0)]}


def score(graph_weight, history):
    scorer = Scorer(ITEMS, VECTORS, GRAPH, temperature=0.5, graph_weight=graph_weight)
    queries = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    return scorer, scorer(queries, tf.constant(history)).numpy()


def test_scores_add_the_weighted_item_graph_evidence_of_the_history():
    # Towers: [1, 0, 0.5] and [0, 2, 1], over temperature 0.5.
    # Evidence: user 1 has b, a source of a (0.5); user 2 has a and c, sources of b (0.25 + 1.0).
    # Padding and items outside the catalog ("x") give no evidence.
    scorer, scores = score(2.0, [["b", "", "x"], ["a", "c", ""]])
    assert scorer.reads_history
    np.testing.assert_allclose(scores, [[2 + 2 * 0.5, 0, 1], [0, 4 + 2 * 1.25, 2]], rtol=1e-6)


def test_without_graph_weight_scores_are_the_towers_and_ignore_history():
    scorer, scores = score(0.0, [["b", "", "x"], ["a", "c", ""]])
    assert not scorer.reads_history
    np.testing.assert_allclose(scores, [[2, 0, 1], [0, 4, 2]], rtol=1e-6)


@pytest.mark.parametrize("history", [[["", "", ""]], [["b", "b", ""]]])
def test_an_empty_history_adds_nothing_and_a_repeated_item_counts_once(history):
    scorer = Scorer(ITEMS, VECTORS, GRAPH, temperature=1.0, graph_weight=1.0)
    evidence = scorer.evidence(tf.constant(history)).numpy()
    np.testing.assert_allclose(evidence, [[0.5 if "b" in history[0] else 0.0, 0, 0]])


def test_the_scoring_graph_is_read_from_preprocessing_and_its_absence_is_explained(tiny_data, tmp_path):
    graph = data.scoring_graph(tiny_data)
    assert {s for s, w in graph["i2"] if w > 0} == {"i1"}
    with pytest.raises(FileNotFoundError, match="run `msrec preprocess` again"):
        data.scoring_graph(str(tmp_path))
