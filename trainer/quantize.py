"""How an export stores the catalogue's item vectors: float32, float16, or int8 with a per-item scale.

The ``[items, D]`` candidate matrix is most of an export's size at scale (256 MB at 1,000,000
items of 64 floats). ``int8`` keeps each item's vector as ``round(v / s)`` with one float32 scale
``s = max|v| / 127`` per item (a quarter of the bytes, the error of an entry at most ``s / 2``);
``float16`` halves it. The scorer reads the vectors only through ``ItemVectors``: ``scores``
for the whole catalogue (brute force: the int8 matrix is cast per request and the scales applied
to the ``[B, N]`` product, not to the matrix) and ``gather`` for a few rows (partitioned retrieval
dequantises only the items it scores). Core TF ops only (Cast, MatMul, GatherV2, Mul).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

FLOAT32, FLOAT16, INT8 = "float32", "float16", "int8"


def int8_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values int8 [N, D], scales float32 [N])`` with ``values * scales[:, None] ~ vectors``."""
    vectors = np.asarray(vectors, np.float32)
    scales = np.abs(vectors).max(axis=1, initial=0.0) / 127.0
    scales = np.where(scales > 0, scales, 1.0).astype(np.float32)
    values = np.clip(np.rint(vectors / scales[:, np.newaxis]), -127, 127).astype(np.int8)
    return values, scales


class ItemVectors(tf.Module):
    """The catalogue's candidate vectors in the storage an export chose; float32 out."""

    def __init__(self, vectors: np.ndarray, storage: str = FLOAT32):
        super().__init__()
        vectors = np.asarray(vectors, np.float32).reshape(len(vectors), -1)
        self.storage = storage
        self.scales = None
        if storage == INT8:
            values, scales = int8_rows(vectors)
            self.values, self.scales = tf.constant(values), tf.constant(scales)
        elif storage == FLOAT16:
            self.values = tf.constant(vectors.astype(np.float16))
        elif storage == FLOAT32:
            self.values = tf.constant(vectors)
        else:
            raise ValueError(f"item vectors are stored as {FLOAT32}, {FLOAT16} or {INT8}, not {storage!r}")

    @property
    def nbytes(self) -> int:
        """What the stored vectors take (values and scales)."""
        scales = 0 if self.scales is None else int(self.scales.shape[0]) * 4
        return int(np.prod(self.values.shape)) * self.values.dtype.size + scales

    def dense(self) -> tf.Tensor:
        """``[N, D]`` float32."""
        return self._float(self.values, self.scales)

    def gather(self, positions: tf.Tensor) -> tf.Tensor:
        """``[..., D]`` float32 rows at catalogue ``positions``."""
        scales = None if self.scales is None else tf.gather(self.scales, positions)
        return self._float(tf.gather(self.values, positions), scales)

    def scores(self, queries: tf.Tensor) -> tf.Tensor:
        """``[B, N]`` dot products of ``queries [B, D]`` with every stored vector."""
        values = self.values if self.storage == FLOAT32 else tf.cast(self.values, tf.float32)
        products = tf.matmul(queries, values, transpose_b=True)
        return products if self.scales is None else products * self.scales[tf.newaxis, :]

    @staticmethod
    def _float(values: tf.Tensor, scales: tf.Tensor | None) -> tf.Tensor:
        values = tf.cast(values, tf.float32)
        return values if scales is None else values * scales[..., tf.newaxis]
