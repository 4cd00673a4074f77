"""Training callbacks: full-catalog validation metrics each epoch, for early stopping.

``ValidationMetrics`` writes ``val_NDCG@10`` (and the other PROTOCOL.md metrics)
into the epoch logs, where Keras' ``EarlyStopping`` and ``TensorBoard`` pick them up.
"""

from __future__ import annotations

import tensorflow as tf

from msrec.datadir import DataDir
from trainer import evaluate
from trainer.scoring import Ranking


class ValidationMetrics(tf.keras.callbacks.Callback):
    """Evaluates the model, ranking by ``ranking``, on the VALIDATION split at the end of each epoch."""

    def __init__(self, source: DataDir, ranking: Ranking):
        super().__init__()
        self.source, self.ranking = source, ranking

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        result = evaluate.evaluate(self.model, self.ranking, self.source, "validation", baseline=False)[
            "model"
        ]
        for key, value in result.items():
            if key != "num_users" and logs is not None:
                logs[f"val_{key}"] = value
        if self.params.get("verbose", 1):
            print(f" - val_HR@10 {result['HR@10']:.4f} - val_NDCG@10 {result['NDCG@10']:.4f}", flush=True)


def early_stopping(patience: int) -> tf.keras.callbacks.EarlyStopping:
    return tf.keras.callbacks.EarlyStopping(
        monitor="val_NDCG@10", mode="max", patience=patience, restore_best_weights=True, verbose=1
    )
