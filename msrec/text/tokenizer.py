"""BERT's tokenizer (BasicTokenizer + WordPiece) in core TensorFlow ops, exportable in a SavedModel.

This module sits under ``msrec/text`` between :mod:`msrec.text.checkpoint` (the vocabulary) and
:mod:`msrec.text.encoder` (the model). It reproduces Hugging Face's fast ``BertTokenizer``
(``BertNormalizer`` + ``BertPreTokenizer`` + ``WordPiece``) with ops that stock TF Serving has:

1. Every per-character rule is folded into one table built here in Python from :mod:`unicodedata`:
   control characters, NUL and U+FFFD drop out, whitespace becomes a space, CJK ideographs get spaces
   around them, characters are lower-cased and accent-stripped (NFD, then combining marks dropped), and
   punctuation gets spaces around it. Only code points whose result differs are stored; the large CJK
   and private-use blocks are handled by range tests. The graph decodes the text to code points, looks
   each up in a ``StaticHashTable``, joins the results and splits on spaces. As in Hugging Face's
   tokenizer, a special token written in the text (``[MASK]``, ``[SEP]``...) stays one token.
2. WordPiece, greedy longest-match-first with ``##`` continuations, runs as one ``tf.while_loop`` over
   all words of the batch: each step looks up every candidate piece from the current position.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Sequence

import tensorflow as tf

CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"
MAX_WORD_CHARS = 100  # longer words become [UNK], as in BERT
DEFAULT_MAX_LENGTH = 128
_KEEP = b"\xff"  # table default meaning "character unchanged"; never valid UTF-8 so never a value
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # kept whole when they appear in the text
# A noncharacter the normalizer keeps: "[MASK]" in a text becomes the word _MARK + "mask".
_MARK = "\ufdd0"
_CJK_COMPAT = ((0xF900, 0xFAFF), (0x2F800, 0x2FA1F))  # decompose under NFD: stored in the table
_CJK = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F))
_CJK += ((0x2B820, 0x2CEAF),)
_PRIVATE_USE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_ASCII_PUNCTUATION = frozenset([*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)])


def _is_punctuation(char: str) -> bool:
    return ord(char) in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _in(ranges: Sequence[tuple[int, int]], code: int) -> bool:
    return any(low <= code <= high for low, high in ranges)


def normalize_char(char: str, lower: bool = True) -> str:
    """What BERT's normalizer and pre-tokenizer make of one character: words separated by spaces.

    Args:
        char: One Unicode character.
        lower: Lower-case and strip accents (``do_lower_case``).

    Returns:
        ``""`` for a dropped character, ``" "`` for whitespace, else the normalized text with spaces
        around every CJK ideograph and punctuation character.
    """
    category = unicodedata.category(char)
    if char in "\x00\ufffd" or (category in ("Cc", "Cf", "Co") and char not in "\t\n\r"):
        return ""
    if char.isspace():
        return " "
    text = f" {char} " if _in(_CJK + _CJK_COMPAT, ord(char)) else char
    if lower:
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c.lower() for c in decomposed if unicodedata.category(c) != "Mn")
    return "".join(f" {c} " if _is_punctuation(c) else c for c in text)


@functools.lru_cache(maxsize=2)
def char_table(lower: bool = True) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Code points whose :func:`normalize_char` differs from themselves, and what they become.

    The CJK ideograph and private-use blocks are left out: the graph tests their ranges instead.
    """
    keys, values = [], []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF or _in(_CJK + _PRIVATE_USE, code):
            continue
        char = chr(code)
        if unicodedata.category(char) == "Cn":
            continue
        normalized = normalize_char(char, lower)
        if normalized != char:
            keys.append(code)
            values.append(normalized)
    return tuple(keys), tuple(values)


def _in_ranges(codes: tf.Tensor, ranges: Sequence[tuple[int, int]]) -> tf.Tensor:
    inside = [(codes >= low) & (codes <= high) for low, high in ranges]
    return tf.reduce_any(tf.stack(inside), axis=0)


class BertTokenizer(tf.Module):
    """BERT tokenization of a batch of strings into ``[CLS] pieces [SEP]`` ids, in graph ops only.

    Attributes:
        max_length: Length of every output row, ``[CLS]`` and ``[SEP]`` included.
        lower: Whether text is lower-cased and accent-stripped.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        max_length: int = DEFAULT_MAX_LENGTH,
        lower: bool = True,
        name: str | None = None,
    ):
        """Builds the lookup tables.

        Args:
            vocab: Tokens in id order (the lines of ``vocab.txt``); must hold [CLS], [SEP] and [UNK].
            max_length: Length of every output row; at least 2.
            lower: ``do_lower_case`` of the checkpoint.
            name: Module name.
        """
        super().__init__(name=name)
        missing = [token for token in (CLS, SEP, UNK) if token not in vocab]
        if missing or max_length < 2:
            raise ValueError(
                f"BertTokenizer needs {missing or ''} in vocab and max_length >= 2, got {max_length}"
            )
        self.max_length, self.lower = int(max_length), bool(lower)
        ids = {token: index for index, token in reversed(list(enumerate(vocab)))}
        specials = [token for token in SPECIAL_TOKENS if token in ids]
        self._special_pattern = r"\[(" + "|".join(token[1:-1] for token in specials) + r")\]"
        ids.update({_MARK + (t[1:-1].lower() if lower else t[1:-1]): ids[t] for t in specials})
        self._cls, self._sep, self._unk = ids[CLS], ids[SEP], ids[UNK]
        self._max_piece = max(len(token.removeprefix("##")) for token in vocab)
        self._vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(ids)), tf.constant(list(ids.values()), tf.int64)
            ),
            default_value=-1,
        )
        keys, values = char_table(self.lower)
        self._chars = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64), tf.constant(values)),
            default_value=_KEEP,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Token ids and attention mask, both int32 ``[B, max_length]``, padded with 0 (``[PAD]``)."""
        ids = self.ragged_ids(texts)
        dense = ids.to_tensor(default_value=0, shape=[None, self.max_length])
        return dense, tf.sequence_mask(ids.row_lengths(), self.max_length, dtype=tf.int32)

    def ragged_ids(self, texts: tf.Tensor, max_length: int | None = None) -> tf.RaggedTensor:
        """``[CLS] + pieces[: max_length - 2] + [SEP]`` per text, as an int32 ``RaggedTensor [B, None]``."""
        texts = tf.convert_to_tensor(texts, tf.string)
        words = tf.strings.split(self.normalize(texts))
        pieces = self._wordpiece(words.flat_values)
        tokens = tf.RaggedTensor.from_row_splits(
            pieces.flat_values, tf.gather(pieces.row_splits, words.row_splits), validate=False
        )[:, : (max_length or self.max_length) - 2]
        edge = tf.ones_like(texts, tf.int64)[:, None]
        return tf.cast(tf.concat([edge * self._cls, tokens, edge * self._sep], axis=1), tf.int32)

    def normalize(self, texts: tf.Tensor) -> tf.Tensor:
        """Each text cleaned, lower-cased, accent-stripped and split into space-separated words.

        A special token in the text becomes the word ``U+FDD0`` + its name, which the vocabulary table maps
        to the token's id (so a text holding that noncharacter itself could meet it; none does in practice).
        """
        texts = tf.strings.regex_replace(texts, self._special_pattern, f" {_MARK}\\1 ")
        codes = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        flat = tf.cast(codes.flat_values, tf.int64)
        chars = tf.strings.unicode_encode(tf.cast(flat, tf.int32)[:, None], "UTF-8")
        mapped = self._chars.lookup(flat)
        keep = tf.equal(mapped, _KEEP)
        out = tf.where(keep, chars, mapped)
        out = tf.where(keep & _in_ranges(flat, _CJK), tf.strings.join([" ", chars, " "]), out)
        out = tf.where(keep & _in_ranges(flat, _PRIVATE_USE), "", out)
        return tf.strings.reduce_join(codes.with_flat_values(out), axis=1)

    def _wordpiece(self, words: tf.Tensor) -> tf.RaggedTensor:
        """Greedy longest-match-first WordPiece of a flat batch of words -> int64 ``[N, None]``."""
        count, width = tf.size(words), self._max_piece
        chars = tf.strings.length(words, unit="UTF8_CHAR")
        lengths = tf.range(width, 0, -1)  # longest candidate first
        grid_words = tf.tile(words[:, None], [1, width])
        grid_lengths = tf.tile(lengths[None, :], [count, 1])

        def step(i, start, failed, emitted):
            active = (start < chars) & ~failed
            position = tf.where(active, start, 0)[:, None]
            candidates = tf.strings.substr(
                grid_words, tf.broadcast_to(position, tf.shape(grid_lengths)), grid_lengths, unit="UTF8_CHAR"
            )
            candidates = tf.where(position > 0, tf.strings.join(["##", candidates]), candidates)
            ids = self._vocab.lookup(candidates)
            hit = (ids >= 0) & (grid_lengths <= chars[:, None] - position)
            best = tf.argmax(tf.cast(hit, tf.int32), axis=1, output_type=tf.int32)
            take = active & tf.reduce_any(hit, axis=1)
            piece = tf.where(take, tf.gather(ids, best, batch_dims=1), tf.constant(-1, tf.int64))
            start = tf.where(take, start + tf.gather(lengths, best), start)
            return i + 1, start, failed | (active & ~take), emitted.write(i, piece)

        def more(i, start, failed, emitted):
            return (i == 0) | tf.reduce_any((start < chars) & ~failed)

        state = (
            0,
            tf.zeros_like(chars),
            chars > MAX_WORD_CHARS,
            tf.TensorArray(tf.int64, size=0, dynamic_size=True),
        )
        _, _, failed, emitted = tf.while_loop(more, step, state)
        none = tf.constant(-1, tf.int64)
        unk = tf.where(failed, tf.constant(self._unk, tf.int64), none)[:, None]  # the whole word
        rows = tf.concat([unk, tf.where(failed[:, None], none, tf.transpose(emitted.stack()))], axis=1)
        return tf.ragged.boolean_mask(rows, rows >= 0)
