"""The feature contract: every feature's name, dtype, shape and vocabulary, spelled once.

Preprocessing encodes tf.Examples from it, the trainer parses them with it, the
exported signatures take their inputs from it and the clients build requests
from it. Nothing else in msrec spells a feature name as a string literal.

Shapes follow TF Serving's batching rules: every feature has batch dimension 0.
A ``scalar`` is ``[B]``; a ``sequence`` (ordered, most recent first) and a
``set`` (unordered) are ``[B, length]``, padded with ``""`` or ``0.0``.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from typing import Any, Iterable, Mapping

SPEC_VERSION = 2

STRING, FLOAT, INT = "string", "float32", "int64"
SCALAR, SEQUENCE, SET = "scalar", "sequence", "set"
QUERY, CANDIDATE, CONTEXT, EVAL = "query", "candidate", "context", "eval"

PAD = ""  # padding value of string sequences and sets; never a real id.


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature of the contract.

    Attributes:
      name: the key in tf.Example, in model inputs and in serving requests.
      dtype: ``string``, ``float32`` or ``int64``.
      kind: ``scalar``, ``sequence`` or ``set``.
      tower: ``query`` or ``candidate`` (model inputs), ``context`` (label-side
        values of a training example) or ``eval`` (only read by evaluation).
      length: padded length of a sequence or set; 1 for a scalar, 0 for a
        ragged eval feature that is never padded.
      vocabulary: the vocabulary file (stem) its string values are looked up in.
    """

    name: str
    dtype: str
    kind: str
    tower: str
    length: int = 1
    vocabulary: str | None = None

    @property
    def is_padded(self) -> bool:
        return self.kind != SCALAR and self.length > 0

    @property
    def pad_value(self) -> Any:
        return PAD if self.dtype == STRING else 0


# Vocabulary stems, shared by every feature that looks values up in them.
USER_VOCAB, ITEM_VOCAB = "user_id", "item_id"
ATTRIBUTE_VOCAB, CATEGORY_VOCAB = "user_attribute", "category"
TAG_VOCAB, TOKEN_VOCAB = "tag", "token"
VOCABULARIES = (USER_VOCAB, ITEM_VOCAB, ATTRIBUTE_VOCAB, CATEGORY_VOCAB, TAG_VOCAB, TOKEN_VOCAB)

# Names used in code; the records below are the only place they are defined.
USER_ID, HISTORY_ITEM_IDS = "user_id", "history_item_ids"
HISTORY_WEIGHTS, HISTORY_TIME_GAPS = "history_weights", "history_time_gaps"
USER_ATTRIBUTES = "user_attributes"
FRIEND_IDS, FRIEND_WEIGHTS = "friend_ids", "friend_weights"
ITEM_ID, ITEM_CATEGORIES = "item_id", "item_categories"
ITEM_TAGS, ITEM_TITLE_TOKENS = "item_tags", "item_title_tokens"
ITEM_NEIGHBOR_IDS, ITEM_NEIGHBOR_WEIGHTS = "item_neighbor_ids", "item_neighbor_weights"
EVENT_WEIGHT, SEEN_ITEM_IDS = "event_weight", "seen_item_ids"
# The item text path: the text preprocessing embedded, its frozen sentence vector, and the
# raw-text input of signatures that embed inside the model (msrec/text).
ITEM_TEXT, ITEM_TEXT_VECTOR = "item_text", "item_text_vector"
TEXT = "text"  # the tower of the item_text/ records


@dataclasses.dataclass(frozen=True)
class Lengths:
    """Padded lengths; part of the data config, saved with every artifact."""

    history: int = 50
    attributes: int = 8
    categories: int = 8
    tags: int = 16
    title_tokens: int = 16
    friends: int = 20
    neighbors: int = 10


def contract(lengths: Lengths = Lengths()) -> tuple[Feature, ...]:
    """Returns the feature records for the given padded lengths."""
    return (
        Feature(USER_ID, STRING, SCALAR, QUERY, vocabulary=USER_VOCAB),
        Feature(HISTORY_ITEM_IDS, STRING, SEQUENCE, QUERY, lengths.history, ITEM_VOCAB),
        Feature(HISTORY_WEIGHTS, FLOAT, SEQUENCE, QUERY, lengths.history),
        Feature(HISTORY_TIME_GAPS, FLOAT, SEQUENCE, QUERY, lengths.history),
        Feature(USER_ATTRIBUTES, STRING, SET, QUERY, lengths.attributes, ATTRIBUTE_VOCAB),
        Feature(FRIEND_IDS, STRING, SEQUENCE, QUERY, lengths.friends, USER_VOCAB),
        Feature(FRIEND_WEIGHTS, FLOAT, SEQUENCE, QUERY, lengths.friends),
        Feature(ITEM_ID, STRING, SCALAR, CANDIDATE, vocabulary=ITEM_VOCAB),
        Feature(ITEM_CATEGORIES, STRING, SET, CANDIDATE, lengths.categories, CATEGORY_VOCAB),
        Feature(ITEM_TAGS, STRING, SET, CANDIDATE, lengths.tags, TAG_VOCAB),
        Feature(ITEM_TITLE_TOKENS, STRING, SET, CANDIDATE, lengths.title_tokens, TOKEN_VOCAB),
        Feature(ITEM_NEIGHBOR_IDS, STRING, SEQUENCE, CANDIDATE, lengths.neighbors, ITEM_VOCAB),
        Feature(ITEM_NEIGHBOR_WEIGHTS, FLOAT, SEQUENCE, CANDIDATE, lengths.neighbors),
        Feature(EVENT_WEIGHT, FLOAT, SCALAR, CONTEXT),
        Feature(SEEN_ITEM_IDS, STRING, SET, EVAL, length=0, vocabulary=ITEM_VOCAB),
    )


_WORD = re.compile(r"\w+", re.UNICODE)


TEXT_FIELDS = ("title", "categories", "tags", "description")


def item_text(item: Mapping[str, Any], fields: Iterable[str] = TEXT_FIELDS) -> str:
    """``item_text`` of an item: the given fields in order, lists joined by ", ", fields by ". ".

    Preprocessing embeds exactly this text for the catalog, and the export for new items.
    """
    parts = []
    for field in fields:
        value = item.get(field)
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v).strip() for v in value if str(v).strip())
        if value is not None and str(value).strip():
            parts.append(str(value).strip())
    return ". ".join(parts)


def words(text: str) -> tuple[str, ...]:
    """``item_title_tokens`` of a title: its lower-cased runs of word characters."""
    return tuple(_WORD.findall(text.lower()))


def text_records(dim: int) -> tuple[Feature, ...]:
    """The ``item_text/`` records preprocessing writes: id, the embedded text, its vector."""
    return (
        Feature(ITEM_ID, STRING, SCALAR, TEXT, vocabulary=ITEM_VOCAB),
        Feature(ITEM_TEXT, STRING, SCALAR, TEXT),
        Feature(ITEM_TEXT_VECTOR, FLOAT, SEQUENCE, TEXT, dim),
    )


def select(features: Iterable[Feature], *towers: str) -> tuple[Feature, ...]:
    """The features of the given towers, in contract order."""
    return tuple(f for f in features if f.tower in towers)


def by_name(features: Iterable[Feature]) -> dict[str, Feature]:
    return {f.name: f for f in features}


def pad(values: Iterable[Any], feature: Feature) -> list[Any]:
    """Truncates or pads a python list to the feature's length."""
    values = list(values)[: feature.length]
    return values + [feature.pad_value] * (feature.length - len(values))


def encode_example(values: Mapping[str, Any], features: Iterable[Feature]):
    """Encodes python values as a tf.train.Example; lists stay unpadded.

    Args:
      values: feature name -> scalar or list. Missing features are written empty.
      features: the records to encode.

    Returns:
      A ``tf.train.Example`` proto.
    """
    from tensorflow.core.example import example_pb2, feature_pb2

    example = example_pb2.Example()
    for f in features:
        value = values.get(f.name, [] if f.kind != SCALAR else f.pad_value)
        items = value if f.kind != SCALAR else [value]
        slot: feature_pb2.Feature = example.features.feature[f.name]
        if f.dtype == STRING:
            slot.bytes_list.value.extend(str(v).encode("utf-8") for v in items)
        elif f.dtype == FLOAT:
            slot.float_list.value.extend(float(v) for v in items)
        else:
            slot.int64_list.value.extend(int(v) for v in items)
    return example


def _varint(n: int) -> bytes:
    """Protocol-buffer base-128 varint of a non-negative int (or of an int64's two's complement)."""
    if 0 <= n < len(_SMALL):
        return _SMALL[n]
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL: list[bytes] = []
_SMALL.extend(_varint(n) for n in range(1 << 14))  # every length up to 16 KiB, looked up


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte, the payload's length, the payload."""
    return tag + _varint(len(payload)) + payload


# Wire tags (field number << 3 | 2, one byte each): Example.features, Features.feature (map entry),
# entry key/value, Feature.bytes_list/float_list/int64_list, and each list's ``value``.
_ONE, _TWO = b"\x0a", b"\x12"
_LIST_TAG = {STRING: b"\x0a", FLOAT: b"\x12", INT: b"\x1a"}


class _EncodedStrings(dict):
    """A string -> its ``BytesList.value`` entry (tag, length, UTF-8), computed once per string."""

    LIMIT = 1 << 20  # entries kept before starting afresh: ids repeat, free text seldom does

    def __missing__(self, value: Any) -> bytes:
        if len(self) >= self.LIMIT:
            self.clear()
        entry = self[value] = _field(_ONE, str(value).encode("utf-8"))
        return entry


class ExampleWriter:
    """Serialized ``tf.train.Example`` bytes, written directly in the protobuf wire format.

    The same message as ``encode_example(values, features).SerializeToString()`` (the tests parse
    both and compare): preprocessing writes one per interaction, and building a protobuf object per
    example was most of its per-row cost. Ids repeat across examples, so each string's encoding
    is kept and a list of them is one ``bytes.join``.
    """

    def __init__(self, features: Iterable[Feature]):
        self._features = tuple(features)
        self._keys = {f.name: _field(_ONE, f.name.encode("utf-8")) + _TWO for f in self._features}
        self._strings = _EncodedStrings()

    def __call__(self, values: Mapping[str, Any]) -> bytes:
        return self.message(self.part(values))

    def part(self, values: Mapping[str, Any], names: Iterable[str] | None = None) -> bytes:
        """The map entries of the features named (all by default): parts of one example join with ``+``.

        A part can be kept and reused for every example that shares those values (a user's profile,
        an item's content); the parts of one message must name every feature exactly once.
        """
        wanted = self._features if names is None else [f for f in self._features if f.name in set(names)]
        entries, strings = [], self._strings
        for f in wanted:
            value = values.get(f.name, [] if f.kind != SCALAR else f.pad_value)
            items = value if f.kind != SCALAR else (value,)
            if f.dtype == STRING:
                body = b"".join(map(strings.__getitem__, items))
            elif not len(items):
                body = b""
            elif f.dtype == FLOAT:
                body = _field(_ONE, struct.pack(f"<{len(items)}f", *items))
            else:
                body = _field(_ONE, b"".join(_varint(int(v)) for v in items))
            entries.append(_field(_ONE, self._keys[f.name] + _nested(f.dtype, body)))
        return b"".join(entries)

    @staticmethod
    def message(parts: bytes) -> bytes:
        """The serialized Example of joined parts."""
        return _field(_ONE, parts)


def _nested(dtype: str, body: bytes) -> bytes:
    """``Feature`` bytes holding one list of ``body``, length-prefixed as the map entry's value."""
    feature = _field(_LIST_TAG[dtype], body)
    return _varint(len(feature)) + feature


def _tf_dtype(feature: Feature):
    import tensorflow as tf

    return {STRING: tf.string, FLOAT: tf.float32, INT: tf.int64}[feature.dtype]


def parse_spec(features: Iterable[Feature]) -> dict[str, Any]:
    """The ``tf.io.parse_example`` spec: scalars fixed, lists ragged."""
    import tensorflow as tf

    spec = {}
    for f in features:
        if f.kind == SCALAR:
            spec[f.name] = tf.io.FixedLenFeature([], _tf_dtype(f), default_value=f.pad_value)
        else:
            spec[f.name] = tf.io.RaggedFeature(_tf_dtype(f))
    return spec


def densify(parsed: Mapping[str, Any], features: Iterable[Feature]) -> dict[str, Any]:
    """Pads/truncates parsed ragged features to ``[B, length]`` (eval ones stay ragged)."""
    out = {}
    for f in features:
        value = parsed[f.name]
        if f.is_padded:
            value = value[:, : f.length].to_tensor(f.pad_value, shape=[None, f.length])
        out[f.name] = value
    return out


def sample(features: Iterable[Feature], rows: int = 1) -> dict[str, Any]:
    """A batch of ``rows`` rows holding only padding: enough to create a model's variables."""
    import tensorflow as tf

    return {
        f.name: tf.fill(
            [rows] if f.kind == SCALAR else [rows, f.length], tf.constant(f.pad_value, _tf_dtype(f))
        )
        for f in features
        if f.is_padded or f.kind == SCALAR
    }


def tensor_specs(features: Iterable[Feature]) -> dict[str, Any]:
    """Serving signature input specs, batch dimension first."""
    import tensorflow as tf

    return {
        f.name: tf.TensorSpec([None] if f.kind == SCALAR else [None, f.length], _tf_dtype(f), f.name)
        for f in features
    }


def to_dict(features: Iterable[Feature]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(f) for f in features]


def from_dict(rows: Iterable[Mapping[str, Any]]) -> tuple[Feature, ...]:
    return tuple(Feature(**row) for row in rows)
