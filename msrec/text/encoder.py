"""A frozen BERT sentence encoder (all-MiniLM-L6-v2 by default) in core TensorFlow ops.

This module sits on top of ``msrec/text``: it reads a checkpoint with :mod:`msrec.text.checkpoint`,
tokenizes with :mod:`msrec.text.tokenizer` and computes what sentence-transformers computes: BERT
(word + position + token-type-0 embeddings, post-LayerNorm self-attention layers with exact GELU), mean
pooling over the attention mask, L2 normalisation. Every weight is a non-trainable ``tf.Variable`` (the
encoder is FROZEN: ``trainable_variables`` is empty), so a SavedModel stores each weight once and stock
TF Serving can run it: :func:`export` writes one with a ``text_embedding`` signature.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from msrec.text import checkpoint as checkpoints
from msrec.text.tokenizer import BertTokenizer

SIGNATURE = "text_embedding"  # serving signature: text: tf.string [None] -> embedding: float32 [None, dim]
_NEG_INF = -1e9  # added to attention scores of padding positions


def _frozen(value: np.ndarray, name: str) -> tf.Variable:
    return tf.Variable(np.ascontiguousarray(value, np.float32), trainable=False, name=name)


class _Dense(tf.Module):
    """``x @ kernel + bias`` from PyTorch ``Linear`` weights (stored ``[out, in]``), fused if several."""

    def __init__(self, weights: dict[str, np.ndarray], prefixes: Sequence[str], name: str):
        super().__init__(name=name)
        kernels = [weights[f"{prefix}.weight"].T for prefix in prefixes]
        self.kernel = _frozen(np.concatenate(kernels, axis=1), "kernel")
        self.bias = _frozen(np.concatenate([weights[f"{prefix}.bias"] for prefix in prefixes]), "bias")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.matmul(x, self.kernel) + self.bias


class _LayerNorm(tf.Module):
    def __init__(self, weights: dict[str, np.ndarray], prefix: str, eps: float, name: str):
        super().__init__(name=name)
        self.gamma = _frozen(weights[f"{prefix}.weight"], "gamma")
        self.beta = _frozen(weights[f"{prefix}.bias"], "beta")
        self.eps = eps

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.eps) * self.gamma + self.beta


class _Layer(tf.Module):
    """One post-LayerNorm transformer layer, on flat activations ``[B * L, H]``."""

    def __init__(self, weights: dict[str, np.ndarray], index: int, config: checkpoints.BertConfig):
        super().__init__(name=f"layer_{index}")
        prefix, eps = f"encoder.layer.{index}", config.layer_norm_eps
        self.heads, self.head_size = config.num_heads, config.head_size
        self.qkv = _Dense(weights, [f"{prefix}.attention.self.{p}" for p in ("query", "key", "value")], "qkv")
        self.attention_out = _Dense(weights, [f"{prefix}.attention.output.dense"], "attention_out")
        self.attention_norm = _LayerNorm(
            weights, f"{prefix}.attention.output.LayerNorm", eps, "attention_norm"
        )
        self.intermediate = _Dense(weights, [f"{prefix}.intermediate.dense"], "intermediate")
        self.output = _Dense(weights, [f"{prefix}.output.dense"], "output")
        self.output_norm = _LayerNorm(weights, f"{prefix}.output.LayerNorm", eps, "output_norm")

    def __call__(self, x: tf.Tensor, mask_bias: tf.Tensor, batch: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
        qkv = tf.reshape(self.qkv(x), [batch, length, 3, self.heads, self.head_size])
        query, key, value = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]))  # each [B, heads, L, d]
        scores = tf.matmul(query, key, transpose_b=True) * (1.0 / math.sqrt(self.head_size)) + mask_bias
        context = tf.matmul(tf.nn.softmax(scores, axis=-1), value)
        context = tf.reshape(
            tf.transpose(context, [0, 2, 1, 3]), [batch * length, self.heads * self.head_size]
        )
        x = self.attention_norm(x + self.attention_out(context))
        hidden = self.intermediate(x)
        hidden = 0.5 * hidden * (1.0 + tf.math.erf(hidden * (1.0 / math.sqrt(2.0))))  # exact GELU
        return self.output_norm(x + self.output(hidden))


class SentenceEncoder(tf.Module):
    """Text -> L2-normalised mean-pooled BERT embedding, as sentence-transformers computes it.

    Attributes:
        config: The checkpoint's :class:`~msrec.text.checkpoint.BertConfig`.
        max_length: Longest token sequence encoded (``[CLS]``/``[SEP]`` included); longer texts are cut.
        dim: Width of the embedding.
        tokenizer: The :class:`~msrec.text.tokenizer.BertTokenizer`.
    """

    def __init__(
        self,
        checkpoint: checkpoints.Checkpoint | str | os.PathLike[str] | None = None,
        max_length: int | None = None,
        name: str | None = None,
    ):
        """Loads the weights.

        Args:
            checkpoint: A loaded checkpoint or its directory; default: see :func:`checkpoint.locate`.
            max_length: Token limit; default the checkpoint's ``max_seq_length`` (256 for MiniLM).
            name: Module name.

        Raises:
            checkpoint.CheckpointNotFoundError: No checkpoint where one was asked for.
        """
        super().__init__(name=name)
        if not isinstance(checkpoint, checkpoints.Checkpoint):
            checkpoint = checkpoints.load(checkpoint)
        config = self.config = checkpoint.config
        self.max_length = min(max_length or config.max_seq_length, config.max_positions)
        self.dim = config.hidden_size
        self.tokenizer = BertTokenizer(checkpoint.vocab(), self.max_length, config.do_lower_case)
        weights = checkpoint.weights()
        self.word_embeddings = _frozen(weights["embeddings.word_embeddings.weight"], "word_embeddings")
        self.position_embeddings = _frozen(
            weights["embeddings.position_embeddings.weight"], "position_embeddings"
        )
        self.token_type_embedding = _frozen(
            weights["embeddings.token_type_embeddings.weight"][0], "token_type_0"
        )
        eps = config.layer_norm_eps
        self.embedding_norm = _LayerNorm(weights, "embeddings.LayerNorm", eps, "embedding_norm")
        self.layers = [_Layer(weights, index, config) for index in range(config.num_layers)]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def encode(self, texts: tf.Tensor) -> tf.Tensor:
        """Embeddings ``float32 [B, dim]`` of a batch of strings; each batch is padded to its longest."""
        ids = self.tokenizer.ragged_ids(texts)
        mask = tf.sequence_mask(ids.row_lengths(), dtype=tf.float32)
        return self.encode_ids(ids.to_tensor(), mask)

    def encode_ids(self, ids: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """Embeddings ``[B, dim]`` of token ids ``[B, L]`` (``[CLS] ... [SEP]``) and their 0/1 mask."""
        batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
        mask = tf.cast(mask, tf.float32)
        x = (
            tf.gather(self.word_embeddings, ids)
            + self.position_embeddings[:length]
            + self.token_type_embedding
        )
        x = tf.reshape(self.embedding_norm(x), [batch * length, self.dim])
        mask_bias = ((1.0 - mask) * _NEG_INF)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask_bias, batch, length)
        x = tf.reshape(x, [batch, length, self.dim])
        summed = tf.reduce_sum(x * mask[:, :, None], axis=1)
        pooled = summed / tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1e-9)
        return pooled / tf.maximum(tf.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings ``float32 [len(texts), dim]`` of Python strings, batched by similar length."""
        texts = list(texts)
        out = np.zeros([len(texts), self.dim], np.float32)
        order = np.argsort([len(text) for text in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.encode(tf.constant([texts[row] for row in rows], tf.string)).numpy()
        return out


class _Serving(tf.Module):
    def __init__(self, encoder: SentenceEncoder):
        super().__init__(name="text_encoder_serving")
        self.encoder = encoder

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def text_embedding(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"embedding": self.encoder.encode(text)}


def export(encoder: SentenceEncoder, path: str | os.PathLike[str]) -> str:
    """Writes a SavedModel whose ``text_embedding`` signature maps ``text [None]`` to ``embedding``.

    Returns:
        The SavedModel directory.
    """
    module = _Serving(encoder)
    tf.saved_model.save(module, str(path), signatures={SIGNATURE: module.text_embedding})
    return str(path)
