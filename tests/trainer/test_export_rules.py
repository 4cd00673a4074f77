"""Filters, the block list, explanations, partitions and int8 storage of real exports of the tiny corpus.

Every answer here comes through the TF1 session loader, as TF Serving runs the SavedModel
(``serving.evaluate.SessionSignature``); the last tests ask the local server over gRPC and REST.
The tiny catalogue: i1 (c1; t1 t2), i2 (c1 c2; t2), i3 (c2; t3), i4 (c3), i5 (c3; t1), i6 (c1; t4),
i9 (c4; t9); user u1 knows i1, i2 and i3; TRAIN popularity i1 > i2 > i4, i6.
"""

import functools
import json
import os

import numpy as np
import pytest

from modelserver import gate
from modelserver.client import GrpcClient, RestClient
from msrec import config
from msrec import features as F
from msrec import signatures as S
from msrec.app import cli
from serving.evaluate import SessionSignature
from tests.modelserver.harness import running_server
from tests.trainer.test_export import signature_metadata
from trainer import artifacts, export, task
from trainer.artifacts import load
from trainer.scoring import Ranking

K = 3
ATTRIBUTES = {
    "i1": {"category:c1", "tag:t1", "tag:t2"},
    "i2": {"category:c1", "category:c2", "tag:t2"},
    "i3": {"category:c2", "tag:t3"},
    "i4": {"category:c3"},
    "i5": {"category:c3", "tag:t1"},
    "i6": {"category:c1", "tag:t4"},
    "i9": {"category:c4", "tag:t9"},
}
KNOWN = {"u1": {"i1", "i2", "i3"}}


@pytest.fixture(scope="module")
def trained(tiny_source, tmp_path_factory):
    """A model with a social part and no text part (its exports are small and quick)."""
    root = tmp_path_factory.mktemp("rules")
    cfg = config.override(
        config.Config(), ["train.epochs=1", "model.sources=id,sequence,content,profile,social,item_graph"]
    )
    task.run(cfg, tiny_source, str(root / "model"), verbose=0)
    model, cfg, data = load(str(root / "model"), tiny_source)
    return root, model, cfg, data


def export_with(trained, name, check=None, **serving):
    root, model, cfg, data = trained
    settings = config.ServingConfig(top_k=K, **serving)
    return export.export(
        model, Ranking.of(cfg.model), settings, artifacts.served(model, data), str(root / name), gate=check
    )


@pytest.fixture(scope="module")
def exact(trained):
    return export_with(trained, "exact")


@pytest.fixture(scope="module")
def partitioned(trained):
    """Three partitions, one probed: filtered rows that come short fall back to brute force."""
    return export_with(trained, "partitioned", gate.run, partitions=3, probes=1)


@functools.cache
def signature(version_dir, name):
    return SessionSignature(version_dir, name)


def ask(version_dir, name, **inputs):
    strings = lambda v: np.array(v, dtype=object) if np.asarray(v).dtype.kind in "USO" else v  # noqa: E731
    return signature(version_dir, name)(**{k: strings(v) for k, v in inputs.items()})


def rows(lists):
    """``[B, width]`` strings padded with ""."""
    width = max(1, *(len(x) for x in lists))
    return [list(x) + [""] * (width - len(x)) for x in lists]


def qualifying(user, include_items=(), exclude_items=(), include_attributes=(), exclude_attributes=()):
    """The oracle: the items a filtered request for ``user`` may get back."""
    out = set()
    for item, has in ATTRIBUTES.items():
        if item in KNOWN.get(user, set()) or item in exclude_items or has & set(exclude_attributes):
            continue
        if (not include_items or item in include_items) and (
            not include_attributes or has & set(include_attributes)
        ):
            out.add(item)
    return out


CASES = [  # user, include_items, exclude_items, include_attributes, exclude_attributes
    ("u1", [], [], ["category:c3"], []),
    ("u1", [], ["i9"], [], []),
    ("u1", ["i5", "i6", "i1"], [], [], []),
    ("u1", [], [], ["category:c1", "tag:t9"], ["tag:t4"]),
    ("nobody", [], [], ["category:c1"], []),
    ("u2", [], [], [], ["category:c1", "category:c2", "category:c3", "category:c4"]),
]


@pytest.mark.parametrize("version", ["exact", "partitioned"])
def test_a_filtered_list_holds_only_qualifying_items_and_k_of_them_when_k_qualify(version, request):
    version_dir = request.getfixturevalue(version)
    users, *rules = zip(*CASES, strict=True)
    out = ask(
        version_dir,
        S.RECOMMEND_USER_FILTERED,
        user_id=list(users),
        **dict(zip(S.FILTERS, map(rows, rules), strict=True)),
    )
    for case, ids in zip(CASES, out[S.ITEM_IDS].tolist(), strict=True):
        got = [i.decode() for i in ids if i]
        allowed = qualifying(*case)
        assert set(got) <= allowed and len(got) == len(set(got)) == min(K, len(allowed)), (case, got)
    # The unknown user choosing by category c1 gets c1's items by TRAIN popularity.
    assert [i.decode() for i in out[S.ITEM_IDS][4]] == ["i1", "i2", "i6"]


def test_recommend_filtered_filters_a_query_given_by_its_features(exact):
    query = {
        f.name: np.full((1, f.length), f.pad_value, np.float32 if f.dtype == F.FLOAT else object)
        for f in F.select(F.contract(config.DataConfig().lengths), F.QUERY)
        if f.kind != F.SCALAR
    }
    query[F.USER_ID] = np.array(["u1"], dtype=object)
    out = ask(
        exact,
        S.RECOMMEND_FILTERED,
        **query,
        **dict(zip(S.FILTERS, ([[""]], [["i5"]], [["category:c3"]], [[""]]), strict=True)),
    )
    assert [i.decode() for i in out[S.ITEM_IDS][0]] == ["i4", "", ""]  # no known items to exclude here


def replay(source, target):
    """Every warm-up request of ``source`` (one per signature) asked of ``target``: (signature, want, got)."""
    import tensorflow as tf

    for log in gate.warmup_logs(source):
        name = gate.signature_name(log.predict_log.request)
        inputs = {k: tf.make_ndarray(v) for k, v in log.predict_log.request.inputs.items()}
        want = {k: tf.make_ndarray(v) for k, v in log.predict_log.response.outputs.items()}
        yield name, want, ask(target, name, **inputs)


def test_probing_every_partition_answers_every_signature_as_brute_force_does(trained, exact):
    every = export_with(trained, "every", partitions=3, probes=3)
    answered = set()
    for name, want, got in replay(exact, every):
        answered.add(name)
        for key, value in want.items():
            if value.dtype.kind == "f":
                np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=f"{name} {key}")
            else:
                np.testing.assert_array_equal(got[key], value, err_msg=f"{name} {key}")
    assert answered == set(S.TOP_K)


def test_int8_vectors_are_a_quarter_of_the_size_and_score_within_a_hundredth(trained, exact):
    small = export_with(trained, "int8", gate.run, embeddings="int8")
    cards = [json.load(open(S.model_card(v)))["retrieval"] for v in (exact, small)]
    items, dim = cards[0]["items"], cards[0]["item_vector_bytes"] // (4 * cards[0]["items"])
    assert (cards[0]["item_vector_bytes"], cards[1]["item_vector_bytes"]) == (
        4 * items * dim,
        items * (dim + 4),
    )
    assert json.load(open(S.model_card(small)))["compatibility"]["ok"] is True  # TF1 loader, stock ops
    assert signature_metadata(small, K) == signature_metadata(exact, K)
    for name, want, got in replay(exact, small):
        # scores are cosines over the temperature (0.1): 0.01 is a cosine difference of 0.001
        np.testing.assert_allclose(got[S.SCORES], want[S.SCORES], atol=0.01, err_msg=name)


def test_a_block_list_takes_a_new_export_of_the_same_model_not_a_retraining(trained, exact, tmp_path):
    root = trained[0]
    before = {p: os.path.getmtime(os.path.join(root, "model", p)) for p in os.listdir(root / "model")}
    popular = [i.decode() for i in ask(exact, S.RECOMMEND_USER, user_id=["nobody"])[S.ITEM_IDS][0]]
    (tmp_path / "blocked.txt").write_text(
        f"# gone from the shelves\n{popular[0]}\n\n{popular[1]}  # recalled\n"
    )
    base = str(tmp_path / "base")
    argv = [
        "export",
        "--model-dir",
        str(root / "model"),
        "--export-base",
        base,
        "--no-blessing",
        "--k",
        str(K),
    ]
    assert cli.main([*argv, "--block-items", str(tmp_path / "blocked.txt")]) == 0
    assert before == {p: os.path.getmtime(os.path.join(root, "model", p)) for p in os.listdir(root / "model")}
    (version,) = S.versions(base)
    blocked_dir = S.version_dir(base, version)
    assert json.load(open(S.model_card(blocked_dir)))["retrieval"]["blocked_items"] == 2
    users = ["u1", "u2", "u3", "u4", "nobody"]
    seen = ask(blocked_dir, S.RECOMMEND_USER, user_id=users)[S.ITEM_IDS].tolist()
    named = ask(
        blocked_dir,
        S.RECOMMEND_USER_FILTERED,
        user_id=["nobody"],
        include_item_ids=[popular[:2]],
        exclude_item_ids=[[""]],
        include_attributes=[[""]],
        exclude_attributes=[[""]],
    )
    returned = {i.decode() for row in seen + named[S.ITEM_IDS].tolist() for i in row}
    assert not returned & set(popular[:2])
    # TRAIN counts: i1 3, i2 2, i4 1, i6 1, the others none (ties in catalogue order): i1, i2 blocked.
    assert popular[:2] == ["i1", "i2"] and [i.decode() for i in seen[-1]] == ["i4", "i6", "i3"]
    assert popular[0] in {
        i.decode() for row in ask(exact, S.RECOMMEND_USER, user_id=users)[S.ITEM_IDS] for i in row
    }


def test_explanations_name_items_of_the_users_own_history_and_their_friends(trained, partitioned):
    users = artifacts.served(trained[1], trained[3]).users
    ids = users.user_ids + ["nobody"]
    out = ask(partitioned, S.RECOMMEND_USER_EXPLAINED, user_id=ids)
    assert out[S.REASON_ITEM_IDS].shape == (len(ids), K, 3)
    for row, user in enumerate(ids):
        history = set(users.features[F.HISTORY_ITEM_IDS][row]) - {b""} if user != "nobody" else set()
        friends = set(users.features[F.FRIEND_IDS][row]) - {b""} if user != "nobody" else set()
        reasons = {i for i in out[S.REASON_ITEM_IDS][row].ravel() if i}
        assert reasons <= history and (reasons or not history), user
        assert {f for f in out[S.REASON_FRIEND_IDS][row] if f} <= friends, user
    u1 = ids.index("u1")
    assert out[S.REASON_ITEM_IDS][u1][0][0] in {b"i1", b"i2", b"i3"}
    recommended = ask(partitioned, S.RECOMMEND_USER, user_id=ids)
    np.testing.assert_array_equal(out[S.ITEM_IDS], recommended[S.ITEM_IDS])


def test_the_local_server_answers_filters_and_explanations_over_grpc_and_rest(partitioned, capsys):
    base = os.path.dirname(partitioned)
    filters = dict(zip(S.FILTERS, ([[""]], [["i9"]], [["category:c3", "category:c1"]], [[""]]), strict=True))
    want = ask(partitioned, S.RECOMMEND_USER_FILTERED, user_id=["u1"], **filters)
    explained = ask(partitioned, S.RECOMMEND_USER_EXPLAINED, user_id=["u2"])
    with running_server(base, name="msrec") as server:
        clients = [
            GrpcClient(f"127.0.0.1:{server.port}", "msrec"),
            RestClient(f"127.0.0.1:{server.rest_api_port}", "msrec"),
        ]
        for client in clients:
            with client:
                got = client.predict({F.USER_ID: ["u1"], **filters}, signature_name=S.RECOMMEND_USER_FILTERED)
                assert got[S.ITEM_IDS].tolist() == want[S.ITEM_IDS].tolist()
                got = client.predict({F.USER_ID: ["u2"]}, signature_name=S.RECOMMEND_USER_EXPLAINED)
                for key, value in explained.items():
                    if value.dtype.kind == "f":
                        np.testing.assert_allclose(got[key], value, rtol=1e-6, err_msg=key)
                    else:
                        np.testing.assert_array_equal(got[key], value, err_msg=key)
        argv = [
            "recommend",
            "--server",
            f"127.0.0.1:{server.port}",
            "--model_name",
            "msrec",
            "--user_id",
            "u2",
            "--k",
            "2",
        ]
        assert cli.main([*argv, "--explain"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert (
            lines[0].startswith(f"1. {explained[S.ITEM_IDS][0][0].decode()} (score ")
            and "because you had" in lines[0]
        )
        assert cli.main([*argv, "--include-attribute", "category:c3"]) == 0
        shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["item_ids"]
        assert shown and set(shown) <= {"i4", "i5"}
        assert cli.main([*argv, "--explain", "--exclude-item", "i4"]) == 2
