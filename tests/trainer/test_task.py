"""The training job as a cloud job: resume after a kill, and two workers under TF_CONFIG."""

import dataclasses
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from msrec import config, paths
from msrec.datadir import DataDir
from trainer import task

KILLED = 3


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class _DieAfterEpoch(tf.keras.callbacks.Callback):
    """Simulates a preempted machine: the process exits without any cleanup."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            os._exit(KILLED)


def test_a_killed_run_resumes_and_counts_its_epochs_from_the_whole_run(tiny_data, tmp_path):
    model_dir = str(tmp_path / "model")
    # A validation run (early stopping on), so the record also has a curve and a kept epoch.
    overrides = ["train.epochs=4", "train.refit=false", "train.early_stopping_patience=10"]
    script = (
        "import sys; from msrec import config; from msrec.datadir import DataDir; from trainer import task; "
        "from tests.trainer.test_task import _DieAfterEpoch; "
        f"cfg = config.override(config.Config(), {overrides!r}); task.run(cfg, DataDir.open({tiny_data!r}), "
        f"{model_dir!r}, verbose=0, extra_callbacks=(_DieAfterEpoch(),))"
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), check=False)
    assert killed.returncode == KILLED
    assert not os.path.exists(paths.model_run(model_dir))  # died before saving
    record = task.run(
        config.override(config.Config(), overrides), DataDir.open(tiny_data), model_dir, verbose=0
    )
    assert os.path.exists(paths.model_run(model_dir))
    assert len(record["loss"]) == 2  # epochs 3 and 4 only: 1 and 2 came from the backup
    assert record["epochs"] == [3, 4] and len(record["val_NDCG@10"]) == 2
    best = 3 + int(np.argmax(record["val_NDCG@10"]))
    assert record["best_epoch"] == best  # not 1 or 2, the resumed curve's own positions


@pytest.mark.slow
def test_two_workers_train_one_model_together(tiny_data, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    model_dir = str(tmp_path / "model")
    procs = []
    for index in range(2):
        env = dict(
            os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "trainer.task",
                    "--data",
                    tiny_data,
                    "--model-dir",
                    model_dir,
                    "--epochs",
                    "2",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    records = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    # One model: the synchronized workers see the same loss every epoch.
    np.testing.assert_allclose(records[0]["loss"], records[1]["loss"], rtol=1e-5)
    chief = tf.train.load_checkpoint(os.path.join(model_dir, "checkpoints", "final"))
    other = tf.train.load_checkpoint(os.path.join(model_dir, "workers", "worker-1", "checkpoints", "final"))
    names = [
        n for n in chief.get_variable_to_shape_map() if "embedding" in n and "optimizer" not in n.lower()
    ]
    assert names
    for name in names:
        np.testing.assert_allclose(chief.get_tensor(name), other.get_tensor(name), rtol=1e-5)


def test_cosine_schedule_decays_to_zero_over_every_step_of_every_epoch(tiny_data):
    meta = json.load(open(os.path.join(tiny_data, paths.METADATA)))
    train = config.TrainConfig(epochs=3, batch_size=2, learning_rate=0.01, lr_schedule="cosine")
    steps = 3 * -(-(meta["train_examples"] + meta["validation_examples"]) // 2)
    schedule = task.learning_rate(train, DataDir.open(tiny_data))
    assert float(schedule(0)) == pytest.approx(0.01)
    middle = steps // 2
    assert float(schedule(middle)) == pytest.approx(0.005 * (1 + np.cos(np.pi * middle / steps)), rel=1e-5)
    assert float(schedule(steps)) == pytest.approx(0.0, abs=1e-9)
    assert task.learning_rate(dataclasses.replace(train, lr_schedule="constant"), tiny_data) == 0.01
    with pytest.raises(ValueError, match="lr_schedule"):
        config.TrainConfig(lr_schedule="linear")


class _RateAtEnd(tf.keras.callbacks.Callback):
    batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_train_end(self, logs=None):
        self.rate = float(self.model.optimizer.learning_rate)  # the rate of the last step taken


def test_stop_after_trains_that_many_epochs_on_the_whole_runs_schedule(tiny_data, tmp_path):
    cfg = config.override(config.Config(), ["train.epochs=3", "train.stop_after=1", "train.batch_size=2"])
    seen = _RateAtEnd()
    record = task.run(
        cfg, DataDir.open(tiny_data), str(tmp_path / "model"), verbose=0, extra_callbacks=(seen,)
    )
    assert len(record["loss"]) == 1
    meta = json.load(open(os.path.join(tiny_data, paths.METADATA)))
    assert seen.batches == -(-(meta["train_examples"] + meta["validation_examples"]) // 2)  # one epoch
    # a third of the way down the three-epoch cosine (0.00375), not at its end (0)
    assert seen.rate == pytest.approx(0.0025 * (1 + np.cos(np.pi / 3)), rel=0.1)
    with pytest.raises(ValueError, match="stop_after"):
        config.TrainConfig(stop_after=-1)


def test_a_refit_stops_at_the_kept_epoch_only_when_the_validation_run_fell_after_it():
    ciaodvd = {"best_epoch": 4, "val_NDCG@10": [0.0305, 0.0336, 0.0353, 0.0384, 0.0377, 0.0340]}
    assert task.refit_overrides(ciaodvd, 12) == ["train.stop_after=4"]  # 11.7 % below the best at the end
    movielens = {"best_epoch": 9, "val_NDCG@10": [0.14, 0.145, 0.148, 0.149, 0.150, 0.151, 0.152, 0.153,
                                                  0.1539, 0.1501, 0.1524]}  # fmt: skip
    assert task.refit_overrides(movielens, 12) == []  # 0.9 % below: flat, not overfitting
    assert task.refit_overrides({"best_epoch": 12, "val_NDCG@10": [0.1] * 12}, 12) == []  # never stopped
    resumed = {"best_epoch": 4, "val_NDCG@10": [0.0384, 0.0377, 0.0340]}  # epochs 4-6 after a kill at 3
    assert task.refit_overrides(resumed, 12) == ["train.stop_after=4"]
    assert task.refit_overrides({"best_epoch": None, "val_NDCG@10": []}, 12) == []  # no validation metrics
