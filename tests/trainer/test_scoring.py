import shutil

import numpy as np
import pytest
import tensorflow as tf

from msrec import errors
from msrec import features as F
from msrec.datadir import DataDir
from trainer import scoring
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


def test_the_scoring_graph_is_read_from_preprocessing_and_its_absence_is_explained(tiny_source, tmp_path):
    graph = tiny_source.scoring_graph()
    # i1 shares two TRAIN sets with i2; i6 none, but the category c1 (tests/preprocessing/test_pipeline.py)
    assert {s for s, w in graph["i2"] if w > 0} == {"i1", "i6"}
    with pytest.raises(errors.UnfinishedInput, match="run `msrec preprocess` again"):
        DataDir(str(tmp_path), tiny_source.metadata).scoring_graph()


@pytest.mark.parametrize("refit", [False, True])
def test_a_model_scores_with_the_graph_fitted_on_what_it_was_trained_on(tiny_source, refit):
    from msrec import config
    from trainer import artifacts

    cfg = config.override(config.Config(), [f"train.refit={str(refit).lower()}"])
    ranking = scoring.Ranking.of(tiny_source.resolve(cfg)[0].model)
    item_ids, scorer = scoring.for_model(artifacts.build(tiny_source, cfg), ranking)
    # i3 is a VALIDATION item only: it has evidence (for i2, its partner in two sets) in the
    # TRAIN + VALIDATION graph, and none in the TRAIN graph, which scores the validation run.
    evidence = dict(zip(item_ids, scorer.evidence(tf.constant([["i3"]])).numpy()[0], strict=True))
    assert (evidence["i2"] > 0) == refit


def test_data_without_the_refit_graph_falls_back_to_the_train_graph_and_says_so(tiny_data, tmp_path, caplog):
    from msrec import paths

    old = tmp_path / "old"
    shutil.copytree(tiny_data, old)
    shutil.rmtree(old / paths.SCORING_GRAPH_REFIT)
    new, old = DataDir.open(tiny_data), DataDir.open(str(old))
    assert new.scoring_graph(refit=True) != new.scoring_graph()
    assert old.scoring_graph(refit=True) == new.scoring_graph()
    assert "no scoring_graph_refit/" in caplog.text


# The cold-text term: 6 items, d and f cold. Sentence vectors on a circle, words as in a shop.
COLD_ITEMS = ["a", "b", "c", "d", "e", "f"]
ANGLES = np.array([0.0, 0.3, 1.6, 0.2, 2.5, 3.0])
TEXT = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1).astype(np.float32)
WORDS = {  # item_tags
    F.ITEM_TAGS: np.array(
        [
            [b"rock", b"90s"],
            [b"rock", b""],
            [b"jazz", b""],
            [b"rock", b"90s"],
            [b"jazz", b"piano"],
            [b"piano", b""],
        ],
        dtype=object,
    )
}


def reference_z(history: list[int], cold: list[int]) -> np.ndarray:
    """The term computed the long way: cosines, per-view standardisation over all items, sum, again."""
    token, weight, vocabulary = scoring.lexical(WORDS, [F.ITEM_TAGS])
    dense = np.zeros((len(COLD_ITEMS), vocabulary))
    for i in range(len(COLD_ITEMS)):
        np.add.at(dense[i], token[i], weight[i])  # padding: token 0, weight 0
    views = []
    for matrix in (TEXT.astype(np.float64), dense):
        profile = matrix[history].sum(axis=0)
        cosine = matrix @ (profile / np.linalg.norm(profile))
        views.append((cosine - cosine.mean()) / cosine.std())
    total = views[0] + views[1]
    return ((total - total.mean()) / total.std())[cold]


def test_lexical_rows_are_unit_tf_idf_with_scikit_learns_smoothed_idf():
    token, weight, vocabulary = scoring.lexical(WORDS, [F.ITEM_TAGS])
    assert vocabulary == 4  # rock, 90s, jazz, piano
    idf = {w: np.log(7 / (1 + df)) + 1 for w, df in {"rock": 3, "90s": 2, "jazz": 2, "piano": 2}.items()}
    row = {token[0][j]: weight[0][j] for j in range(2)}
    assert sorted(row.values()) == pytest.approx(
        sorted(np.array([idf["rock"], idf["90s"]]) / np.hypot(idf["rock"], idf["90s"]))
    )
    assert weight[1].tolist() == [1.0, 0.0]  # one word: weight 1, then padding


def test_cold_items_get_weight_times_z_plus_offset_and_warm_items_nothing():
    cold = np.array([False, False, False, True, False, True])
    term = scoring.ColdText(TEXT, cold, 3.0, -2.0, scoring.lexical(WORDS, [F.ITEM_TAGS]), reference_items=6)
    history = [[0, 1, -1], [2, 4, -1]]  # a rock listener; a jazz listener
    z = term.z(tf.constant(history, tf.int64)).numpy()
    for row, items in zip(z, history, strict=True):
        np.testing.assert_allclose(
            row, reference_z([i for i in items if i >= 0], [3, 5]), rtol=1e-4, atol=1e-5
        )
    assert z[0, 0] > 0 > z[0, 1] and z[1, 1] > 0 > z[1, 0]  # d reads like rock, f like jazz piano
    scores = term.add(tf.zeros([2, 6]), 3.0 * tf.constant(z) - 2.0).numpy()
    np.testing.assert_allclose(scores[:, [3, 5]], 3.0 * z - 2.0, rtol=1e-6)
    assert not scores[:, [0, 1, 2, 4]].any()


def test_the_scorer_adds_the_term_and_reads_history_for_it():
    cold = np.array([False, False, False, True, False, True])
    term = scoring.ColdText(TEXT, cold, 3.0, -2.0, None, reference_items=6)
    vectors = np.eye(6, 2, dtype=np.float32)
    scorer = Scorer(COLD_ITEMS, vectors, {}, temperature=1.0, graph_weight=0.0, cold=term)
    assert scorer.reads_history
    queries = tf.constant([[1.0, 0.0]])
    scores = scorer(queries, tf.constant([["a", "b", ""]])).numpy()[0]
    z = term.z(tf.constant([[0, 1, -1]], tf.int64)).numpy()[0]
    np.testing.assert_allclose(scores[[3, 5]], 3.0 * z - 2.0, rtol=1e-5)
    np.testing.assert_allclose(scores[[0, 1, 2, 4]], vectors[[0, 1, 2, 4]] @ [1.0, 0.0])


def test_without_cold_items_or_weight_the_term_is_off():
    assert not scoring.ColdText(TEXT, np.zeros(6, bool), 3.0, -2.0).active
    assert not scoring.ColdText(TEXT, np.ones(6, bool), 0.0, -2.0).active
