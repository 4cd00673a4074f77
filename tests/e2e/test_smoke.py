"""End to end through the real entry points: preprocess -> train -> evaluate -> export -> serve -> gRPC.

Runs the ``msrec`` CLI on the generated demo dataset (fixed seed), starts ``msrec serve``
as its own process on a free port, and checks the served top-K against the model
computed in this process.
"""

import glob
import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from modelserver.client import GrpcClient, RestClient
from msrec import features as F
from msrec.app import cli
from msrec.datadir import DataDir
from tests.modelserver.tiny_model import pick_unused_port
from trainer import artifacts, data, scoring

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    paths = {k: str(root / k) for k in ("data", "model", "export")}
    assert cli.main(["preprocess", "--dataset", "synthetic", "--output", paths["data"]]) == 0
    assert cli.main(["train", "--data", paths["data"], "--model-dir", paths["model"], "--epochs", "4"]) == 0
    assert cli.main(["evaluate", "--model-dir", paths["model"], "--output", str(root / "metrics.json")]) == 0
    assert cli.main(["export", "--model-dir", paths["model"], "--export-base", paths["export"]]) == 0
    paths["metrics"] = str(root / "metrics.json")
    return paths


@pytest.fixture(scope="module")
def server(run):
    port, rest_port = pick_unused_port(), pick_unused_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "msrec.app.cli",
            "serve",
            f"--port={port}",
            f"--rest_api_port={rest_port}",
            "--model_name=msrec",
            f"--model_base_path={run['export']}",
            "--file_system_poll_wait_seconds=0",
        ]
    )
    client = GrpcClient(f"127.0.0.1:{port}", "msrec", timeout=30)
    try:
        client.wait_until_ready(timeout=120)
        client.port, client.rest_port = port, rest_port
        yield client
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_model_retrieves_at_least_twice_as_well_as_most_popular(run):
    metrics = json.load(open(run["metrics"]))
    assert set(metrics) >= {"HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR", "num_users"}
    assert metrics["num_users"] == 1000
    assert metrics["HR@10"] >= 2 * metrics["popularity"]["HR@10"], metrics


def test_served_top_k_equals_the_in_process_model(run, server):
    model, config, source = artifacts.load(run["model"])
    query_features = F.select(source.contract, F.QUERY)
    held_out = next(iter(data.dataset(source, "test", query_features, 16)))
    inputs = {name: value.numpy() for name, value in held_out.items()}

    served = server.predict(inputs)  # serving_default, over gRPC

    item_ids, scorer = scoring.for_model(model, scoring.Ranking.of(config.model))  # what evaluation ranks by
    scores = scorer(model.query_tower(inputs), inputs[F.HISTORY_ITEM_IDS]).numpy()
    k = config.serving.top_k
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    expected_ids = [[item_ids[j] for j in row] for row in top]
    assert [[i.decode() for i in row] for row in served["item_ids"]] == expected_ids
    np.testing.assert_allclose(served["scores"], np.take_along_axis(scores, top, axis=1), atol=1e-4)


def test_recommend_user_excludes_what_the_user_already_had(run, server, capsys):
    source = DataDir.open(artifacts.read_run(run["model"])["data_dir"])
    features = F.by_name(source.contract)
    state = data.load_all(source, "users", (features[F.USER_ID], features[F.HISTORY_ITEM_IDS]))
    user, history = state[F.USER_ID][0].decode(), {h.decode() for h in state[F.HISTORY_ITEM_IDS][0] if h}
    out = server.predict({F.USER_ID: np.array([user], dtype=object)}, signature_name="recommend_user")
    recommended = [i.decode() for i in out["item_ids"][0]]
    assert history and not history & set(recommended)
    assert np.all(np.diff(out["scores"][0]) <= 0)
    assert (
        cli.main(
            [
                "recommend",
                "--server",
                f"127.0.0.1:{server.port}",
                "--model_name",
                "msrec",
                "--user_id",
                user,
                "--k",
                "5",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["item_ids"] == recommended[:5]


def test_rest_and_the_batch_job_return_what_grpc_returns(run, server, tmp_path):
    source = DataDir.open(artifacts.read_run(run["model"])["data_dir"])
    features = F.select(source.contract, F.QUERY)
    held_out = {k: v.numpy() for k, v in next(iter(data.dataset(source, "test", features, 8))).items()}
    users = [u.decode() for u in held_out[F.USER_ID]]
    with RestClient(f"127.0.0.1:{server.rest_port}", "msrec", timeout=30) as rest:
        for signature, inputs in (
            ("serving_default", held_out),
            ("recommend_user", {F.USER_ID: np.array(users, dtype=object)}),
        ):
            by_grpc, by_rest = server.predict(inputs, signature), rest.predict(inputs, signature)
            assert by_rest["item_ids"].tolist() == by_grpc["item_ids"].tolist()
            np.testing.assert_allclose(by_rest["scores"], by_grpc["scores"], atol=1e-5)
    (tmp_path / "users.txt").write_text("\n".join(users) + "\n")
    out = str(tmp_path / "predictions")
    assert (
        cli.main(
            [
                "batch-predict",
                "--model",
                run["export"],
                "--input",
                str(tmp_path / "users.txt"),
                "--output",
                out,
            ]
        )
        == 0
    )
    rows = {
        r["user_id"]: r
        for p in sorted(glob.glob(out + "-*.jsonl"))
        if "dead_letter" not in p
        for r in map(json.loads, open(p))
    }
    expected = server.predict({F.USER_ID: np.array(users, dtype=object)}, "recommend_user")
    for row, user in enumerate(users):
        assert rows[user]["item_ids"] == [i.decode() for i in expected["item_ids"][row]]
        np.testing.assert_allclose(rows[user]["scores"], expected["scores"][row], atol=1e-5)


def test_msrec_serve_answers_filtered_and_explained_requests_over_grpc_and_rest(run, server, capsys):
    from msrec import signatures as S
    from trainer import catalog

    source = DataDir.open(artifacts.read_run(run["model"])["data_dir"])
    ids, features = catalog.read(source, source.contract)
    categories = {
        item: {c.decode() for c in row if c}
        for item, row in zip(ids, features[F.ITEM_CATEGORIES], strict=True)
    }
    by_name = F.by_name(source.contract)
    table = data.load_all(source, "users", (by_name[F.USER_ID], by_name[F.SEEN_ITEM_IDS]))
    users = [u.decode() for u in table[F.USER_ID][:4]]
    known = [{i.decode() for i in row} for row in table[F.SEEN_ITEM_IDS][:4]]
    wanted = sorted(categories[ids[0]])[0]
    rules = {
        S.INCLUDE_ITEM_IDS: [[""]] * len(users),
        S.EXCLUDE_ITEM_IDS: [[ids[1]]] * len(users),
        S.INCLUDE_ATTRIBUTES: [[S.item_attribute(F.CATEGORY_VOCAB, wanted)]] * len(users),
        S.EXCLUDE_ATTRIBUTES: [[""]] * len(users),
    }
    inputs = {F.USER_ID: np.array(users, dtype=object), **rules}
    with RestClient(f"127.0.0.1:{server.rest_port}", "msrec", timeout=30) as rest:
        by_grpc = server.predict(inputs, S.RECOMMEND_USER_FILTERED)
        assert (
            rest.predict(inputs, S.RECOMMEND_USER_FILTERED)["item_ids"].tolist()
            == by_grpc["item_ids"].tolist()
        )
        explained = rest.predict({F.USER_ID: users}, S.RECOMMEND_USER_EXPLAINED)
    for row, had in zip(by_grpc["item_ids"], known, strict=True):
        got = [i.decode() for i in row if i]
        qualifying = {i for i in ids if wanted in categories[i]} - had - {ids[1]}
        assert set(got) <= qualifying and len(got) == min(len(row), len(qualifying))
    plain = server.predict({F.USER_ID: np.array(users, dtype=object)}, S.RECOMMEND_USER)
    assert explained["item_ids"].tolist() == plain["item_ids"].tolist()
    argv = [
        "recommend",
        "--server",
        f"127.0.0.1:{server.port}",
        "--model_name",
        "msrec",
        "--user_id",
        users[0],
    ]
    assert cli.main([*argv, "--k", "3", "--explain"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line[:3] for line in lines[:3]] == ["1. ", "2. ", "3. "] and "because you had" in lines[0]
