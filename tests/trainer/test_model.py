"""Towers and the retrieval model on the tiny corpus: shapes, masking, logQ."""

import numpy as np
import pytest
import tensorflow as tf

from msrec import config
from msrec import features as F
from trainer import artifacts, data, layers, tables
from trainer.model import TwoTowerModel, sampling_probability


def test_masked_mean_ignores_padding_and_survives_all_padding():
    emb = tf.constant([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]], [[7.0, 7.0], [7.0, 7.0], [7.0, 7.0]]])
    mask = tf.constant([[True, True, False], [False, False, False]])
    np.testing.assert_allclose(layers.masked_mean(emb, mask).numpy(), [[2.0, 3.0], [0.0, 0.0]])


@pytest.fixture(scope="module")
def batch(tiny_source):
    contract = tiny_source.contract
    return next(iter(data.dataset(tiny_source, "train", F.select(contract, F.QUERY, F.CANDIDATE), 8)))


def test_towers_emit_unit_vectors_of_the_configured_width(tiny_source, batch):
    cfg = config.override(config.Config(), ["model.embedding_dim=16"])
    model = artifacts.build(tiny_source, cfg)
    queries, candidates = model(batch)
    assert queries.shape == (7, 16) and candidates.shape == (7, 16)
    np.testing.assert_allclose(tf.norm(queries, axis=1).numpy(), 1.0, rtol=1e-5)


def test_padding_in_history_does_not_change_the_query(tiny_source, batch):
    model = artifacts.build(tiny_source, config.Config())
    longer = dict(batch)
    # The same history written with an explicit extra pad is the same input.
    assert batch[F.HISTORY_ITEM_IDS].shape[1] == 50
    longer[F.HISTORY_ITEM_IDS] = tf.concat([batch[F.HISTORY_ITEM_IDS][:, :49], tf.fill([7, 1], "")], axis=1)
    np.testing.assert_allclose(model.query_tower(batch).numpy(), model.query_tower(longer).numpy(), atol=1e-6)


def test_the_encoder_attends_over_the_most_recent_sequence_length_events(tiny_source, batch):
    cfg = config.override(config.Config(), ["model.sequence_length=1", "model.sources=id,sequence"])
    tower = artifacts.build(tiny_source, cfg).query_tower

    def query(latest, before):
        inputs = dict(batch)
        history = [[latest, before] + [""] * 48] * 7
        inputs[F.HISTORY_ITEM_IDS] = tf.constant(history)
        return tower(inputs).numpy()

    base = query("i1", "i2")
    np.testing.assert_allclose(query("i1", "i6"), base, atol=1e-6)  # beyond the one-event window
    assert (np.abs(query("i6", "i2") - base).max(axis=1) > 1e-4).all()


def test_sampling_probability_is_the_train_share():
    table = sampling_probability({"i1": 3, "i2": 2, "i6": 1, "i9": 1})
    got = table.lookup(tf.constant(["i1", "i2", "i6", "never-seen"])).numpy()
    np.testing.assert_allclose(got, [3 / 7, 2 / 7, 1 / 7, 1 / 7], rtol=1e-6)


def _softmax_loss(q, c, ids, temperature, probability=None, extra=None):
    """In-batch softmax cross-entropy, summed, written out by hand (``extra`` added to the logits)."""
    logits = q @ c.T / temperature + (0 if extra is None else extra)
    if probability is not None:
        logits = logits - np.log(probability)[None, :]
    same = (ids[:, None] == ids[None, :]) & ~np.eye(len(ids), dtype=bool)
    logits = np.where(same, -1e30, logits)  # an accidental hit is not a negative
    logits = logits - logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.trace(log_softmax)


def test_loss_is_in_batch_softmax_with_logq_correction(tiny_source, batch):
    cfg = config.Config()
    model = TwoTowerModel(tables.read(tiny_source), tiny_source.resolve(cfg)[0].model)
    q, c = (t.numpy().astype(np.float64) for t in model(batch))
    ids = batch[F.ITEM_ID].numpy()
    p = model.sampling.lookup(batch[F.ITEM_ID]).numpy().astype(np.float64)
    corrected = float(model.compute_loss(batch))
    np.testing.assert_allclose(corrected, _softmax_loss(q, c, ids, cfg.model.temperature, p), rtol=1e-4)
    model.sampling = None
    plain = float(model.compute_loss(batch))
    np.testing.assert_allclose(plain, _softmax_loss(q, c, ids, cfg.model.temperature), rtol=1e-4)
    assert abs(corrected - plain) > 1e-2


def test_ranking_head_adds_weighted_mse_on_log_event_weight(tiny_source):
    contract = tiny_source.contract
    batch = next(
        iter(data.dataset(tiny_source, "train", F.select(contract, F.QUERY, F.CANDIDATE, F.CONTEXT), 8))
    )
    cfg = config.override(config.Config(), ["model.ranking_weight=0.5"])
    model = TwoTowerModel(tables.read(tiny_source), tiny_source.resolve(cfg)[0].model)
    q, c = model(batch)
    total = float(model.compute_loss(batch))
    predicted = model.rater(tf.concat([q, c], axis=-1)).numpy()[:, 0]
    mse = np.mean((np.log1p(batch[F.EVENT_WEIGHT].numpy()) - predicted) ** 2)
    model.ranking_weight = 0.0
    retrieval = float(model.compute_loss(batch))
    np.testing.assert_allclose(total, retrieval + 0.5 * mse, rtol=1e-4)


def test_mixed_negatives_widen_the_softmax_with_catalog_items(tiny_source, batch):
    cfg = config.override(config.Config(), ["model.uniform_negatives=5"])
    model = TwoTowerModel(tables.read(tiny_source), tiny_source.resolve(cfg)[0].model)
    drawn = model.catalog.draw(5)
    assert drawn[F.ITEM_ID].shape == (5,) and drawn[F.ITEM_CATEGORIES].shape == (5, 8)
    assert set(drawn[F.ITEM_ID].numpy().tolist()) <= {b"i1", b"i2", b"i3", b"i4", b"i5", b"i6", b"i9"}
    assert model.catalog.share(5) == pytest.approx(5 / 7)
    tf.random.set_seed(1)
    loss = float(model.compute_loss(batch))
    model.catalog = None
    assert loss > float(model.compute_loss(batch))  # more negatives, a harder softmax


def test_evidence_in_the_loss_adds_w_times_the_historys_graph_weights_to_each_logit(tiny_source, batch):
    cfg = config.override(config.Config(), ["model.evidence_in_loss=2.0"])
    model = TwoTowerModel(tables.read(tiny_source, scoring_graph=True), tiny_source.resolve(cfg)[0].model)
    graph = tiny_source.scoring_graph()
    q, c = (t.numpy().astype(np.float64) for t in model(batch))
    ids = [i.decode() for i in batch[F.ITEM_ID].numpy()]
    histories = [{h.decode() for h in row if h} for row in batch[F.HISTORY_ITEM_IDS].numpy()]
    evidence = np.array(
        [
            [sum(w for source, w in graph.get(item, []) if source in history) for item in ids]
            for history in histories
        ]
    )
    assert evidence.any()  # the tiny corpus's graph links some history to some candidate
    p = model.sampling.lookup(batch[F.ITEM_ID]).numpy().astype(np.float64)
    expected = _softmax_loss(q, c, np.array(ids), cfg.model.temperature, p, 2.0 * evidence)
    np.testing.assert_allclose(float(model.compute_loss(batch)), expected, rtol=1e-4)
    model.evidence_in_loss = 0.0
    np.testing.assert_allclose(
        float(model.compute_loss(batch)),
        _softmax_loss(q, c, np.array(ids), cfg.model.temperature, p),
        rtol=1e-4,
    )


def test_a_model_is_built_from_in_memory_tables_without_a_data_directory():
    contract = F.contract()
    items = ["a", "b", "c"]
    candidate = {
        f.name: np.full((3, f.length), f.pad_value, dtype=object if f.dtype == F.STRING else np.float32)
        for f in F.select(contract, F.CANDIDATE)
        if f.is_padded
    }
    candidate[F.ITEM_ID] = np.array(items, dtype=object)
    rows = tables.Tables(
        contract=contract,
        vocabularies={F.ITEM_VOCAB: items, F.USER_VOCAB: ["u1", "u2"]},
        item_counts={"a": 2, "b": 1, "c": 1},
        catalog_ids=items,
        catalog=candidate,
    )
    cfg = config.override(config.Config(), ["model.embedding_dim=8", "model.sources=id,sequence"])
    model = TwoTowerModel(rows, cfg.model)
    queries, candidates = model(F.sample(F.select(contract, F.QUERY, F.CANDIDATE), rows=2))
    assert queries.shape == (2, 8) and candidates.shape == (2, 8)
    np.testing.assert_allclose(model.sampling.lookup(tf.constant(["a", "zz"])).numpy(), [0.5, 0.25])
