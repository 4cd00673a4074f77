"""Batch inference I/O: requests in, predictions and dead letters out.

    ReadRequests:     users (text, one id a line) | examples (TFRecords of tf.Example)
                      -> ok: (user_id, payload)   -> bad: dead-letter dicts
    WritePredictions: (user_id, {item_ids, scores}) -> JSONL | TFRecords of tf.Example
    WriteDeadLetters: dead-letter dicts -> <prefix>-dead_letter-*.jsonl

``serving.batch_inference`` wires these around ``RunInference``. The decoding and encoding logic is plain
functions (testable without Beam); the DoFn only counts and routes. A request is ``(user_id, payload)``:
the user id itself (``users``) or the serialized tf.Example (``examples``).
"""

from __future__ import annotations

import base64
import json
import posixpath
from typing import Any, Iterable, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics, MetricsFilter

from msrec import errors, flags, paths
from msrec import features as F
from msrec.signatures import ITEM_IDS, SCORES

# The formats, named as the job's flags name them (msrec/flags.py, so --help needs no Beam).
USERS, EXAMPLES, INPUT_FORMATS = flags.USERS, flags.EXAMPLES, flags.INPUT_FORMATS
JSONL, TFRECORD, OUTPUT_FORMATS = flags.JSONL, flags.TFRECORD, flags.OUTPUT_FORMATS

SUFFIXES = {JSONL: ".jsonl", TFRECORD: paths.TFRECORD_SUFFIX}

NAMESPACE = "msrec.batch_inference"
RECORDS_IN, RECORDS_OK, RECORDS_BAD = "records_in", "records_ok", "records_bad"
PREDICTIONS_WRITTEN = "predictions_written"
COUNTERS = (RECORDS_IN, RECORDS_OK, RECORDS_BAD, PREDICTIONS_WRITTEN)
# Dead-letter reasons; each also counts as ``records_bad.<reason>``.
EMPTY_USER_ID, UNPARSEABLE = "empty_user_id", "unparseable_example"
MISSING_FEATURE, WRONG_TYPE, WRONG_LENGTH = "missing_feature", "wrong_type", "wrong_length"
INFERENCE_FAILED = "inference_failed"

_KINDS = {F.STRING: "bytes_list", F.FLOAT: "float_list", F.INT: "int64_list"}
_DTYPES = {"string": F.STRING, "float32": F.FLOAT, "int64": F.INT}


class BadRecord(ValueError):
    """An input record that cannot be turned into a request; ``reason`` is one of the codes above."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def signature_contract(specs: Mapping[str, Any]) -> tuple[F.Feature, ...]:
    """Feature records read back from a signature's input ``TensorSpec``s (``[B]`` or ``[B, length]``).

    This is the inverse of ``features.tensor_specs``: the batch job parses with what the model serves, not
    with what the code it runs with believes the model was exported with.
    """
    contract = []
    for name in sorted(specs):
        spec = specs[name]
        shape = spec.shape.as_list()
        if spec.dtype.name not in _DTYPES or len(shape) not in (1, 2) or (len(shape) == 2 and not shape[1]):
            raise ValueError(f"signature input {name!r} {spec} is not [B] or [B, length] of a contract dtype")
        kind, length = (F.SCALAR, 1) if len(shape) == 1 else (F.SEQUENCE, shape[1])
        contract.append(F.Feature(name, _DTYPES[spec.dtype.name], kind, F.QUERY, length))
    return tuple(contract)


def decode_user_line(line: str) -> tuple[str, str]:
    user_id = line.strip()
    if not user_id:
        raise BadRecord(EMPTY_USER_ID, "blank line")
    return user_id, user_id


def check_example(serialized: bytes, features: Iterable[F.Feature]) -> tuple[str, bytes]:
    """Checks one record before it joins a batch, so one bad record cannot fail a whole batch.

    Stricter than ``features.parse_spec`` alone: every contract feature must be present (an empty list is
    fine), so a record from another schema is dead-lettered rather than answered from defaults.

    Returns:
      ``(user_id, serialized)``; the user id is ``""`` if the contract has none.

    Raises:
      BadRecord: not a tf.Example, a contract feature absent, of the wrong type, or a scalar with other
        than one value.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.example import example_pb2

    try:
        example = example_pb2.Example.FromString(serialized)
    except DecodeError as error:
        raise BadRecord(UNPARSEABLE, str(error)) from error
    present = example.features.feature
    user_id = ""
    for f in features:
        if f.name not in present:
            raise BadRecord(MISSING_FEATURE, f.name)
        kind = present[f.name].WhichOneof("kind")
        if kind not in (None, _KINDS[f.dtype]):
            raise BadRecord(WRONG_TYPE, f"{f.name} is a {kind}, expected {_KINDS[f.dtype]}")
        values = getattr(present[f.name], _KINDS[f.dtype]).value
        if f.kind == F.SCALAR and len(values) != 1:
            raise BadRecord(WRONG_LENGTH, f"{f.name} has {len(values)} values, expected 1")
        if f.name == F.USER_ID and values:
            user_id = values[0].decode("utf-8", "replace")
    return user_id, serialized


def dead_letter(reason: str, detail: str, record: Any) -> dict[str, Any]:
    """A JSON-ready dead letter; bytes are kept losslessly as ``{"b64": ...}``."""
    if isinstance(record, bytes):
        record = {"b64": base64.b64encode(record).decode("ascii")}
    return {"reason": reason, "detail": detail, "record": record}


def to_json_line(user_id: str, prediction: Mapping[str, list]) -> str:
    """One JSONL row; non-finite scores (excluded items) use Python's/TF Serving REST's tokens."""
    row = {F.USER_ID: user_id, ITEM_IDS: list(prediction[ITEM_IDS]), SCORES: list(prediction[SCORES])}
    return json.dumps(row, ensure_ascii=False, allow_nan=True)


# A prediction row as a tf.Example, encoded by the contract's one encoder (features.encode_example).
PREDICTION = (
    F.Feature(F.USER_ID, F.STRING, F.SCALAR, "prediction"),
    F.Feature(ITEM_IDS, F.STRING, F.SET, "prediction", 0),
    F.Feature(SCORES, F.FLOAT, F.SET, "prediction", 0),
)


def to_example(user_id: str, prediction: Mapping[str, list]) -> bytes:
    values = {F.USER_ID: user_id, ITEM_IDS: list(prediction[ITEM_IDS]), SCORES: list(prediction[SCORES])}
    return F.encode_example(values, PREDICTION).SerializeToString()


def from_example(serialized: bytes) -> dict[str, Any]:
    """Reads a prediction row written by ``to_example`` back into the JSONL shape."""
    from tensorflow.core.example import example_pb2

    fields = example_pb2.Example.FromString(serialized).features.feature
    return {
        F.USER_ID: fields[F.USER_ID].bytes_list.value[0].decode("utf-8"),
        ITEM_IDS: [i.decode("utf-8") for i in fields[ITEM_IDS].bytes_list.value],
        SCORES: list(fields[SCORES].float_list.value),
    }


def count_bad(reason: str) -> None:
    Metrics.counter(NAMESPACE, RECORDS_BAD).inc()
    Metrics.counter(NAMESPACE, f"{RECORDS_BAD}.{reason}").inc()


class _DecodeRequests(beam.DoFn):
    def __init__(self, input_format: str, features: tuple[F.Feature, ...]):
        self.input_format, self.features = input_format, features
        self.records_in = Metrics.counter(NAMESPACE, RECORDS_IN)

    def process(self, record):
        self.records_in.inc()
        try:
            if self.input_format == USERS:
                yield decode_user_line(record)
            else:
                yield check_example(record, self.features)
        except BadRecord as bad:
            count_bad(bad.reason)
            yield beam.pvalue.TaggedOutput("bad", dead_letter(bad.reason, bad.detail, record))


class ReadRequests(beam.PTransform):
    """Reads ``users`` lines or ``examples`` TFRecords into ``ok`` requests and ``bad`` dead letters."""

    def __init__(self, pattern: str, input_format: str, features: tuple[F.Feature, ...] = ()):
        super().__init__()
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {INPUT_FORMATS}, not {input_format!r}")
        self.pattern, self.input_format, self.features = pattern, input_format, features

    def expand(self, pbegin):
        if self.input_format == USERS:
            records = pbegin | "ReadLines" >> beam.io.ReadFromText(self.pattern)
        else:  # gzip or not, from the file suffix
            records = pbegin | "ReadRecords" >> beam.io.ReadFromTFRecord(self.pattern)
        decode = beam.ParDo(_DecodeRequests(self.input_format, self.features))
        return records | "Decode" >> decode.with_outputs("bad", main="ok")


class WritePredictions(beam.PTransform):
    """Writes ``(user_id, prediction)`` pairs as ``<prefix>-SSSSS-of-NNNNN.{jsonl,tfrecord.gz}``."""

    def __init__(self, prefix: str, output_format: str, num_shards: int):
        super().__init__()
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, not {output_format!r}")
        self.prefix, self.output_format, self.num_shards = prefix, output_format, num_shards

    def expand(self, predictions):
        rows = predictions | "Encode" >> beam.ParDo(_EncodeRows(self.output_format))
        suffix = SUFFIXES[self.output_format]
        if self.output_format == JSONL:
            sink = beam.io.WriteToText(self.prefix, file_name_suffix=suffix, num_shards=self.num_shards)
        else:
            sink = beam.io.WriteToTFRecord(self.prefix, file_name_suffix=suffix, num_shards=self.num_shards)
        return rows | "Write" >> sink


def shard_names(prefix: str, output_format: str, num_shards: int) -> list[str]:
    """The files ``WritePredictions`` writes (Beam's default ``-SSSSS-of-NNNNN`` template)."""
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}{SUFFIXES[output_format]}" for i in range(num_shards)]


class _EncodeRows(beam.DoFn):
    def __init__(self, output_format: str):
        self.encode = to_json_line if output_format == JSONL else to_example
        self.written = Metrics.counter(NAMESPACE, PREDICTIONS_WRITTEN)

    def process(self, element):
        self.written.inc()
        yield self.encode(*element)


class WriteDeadLetters(beam.PTransform):
    """Writes dead-letter dicts to ``<prefix>-dead_letter-00000-of-00001.jsonl`` (always one shard)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def expand(self, letters):
        return (
            letters
            | "Json" >> beam.Map(json.dumps, ensure_ascii=False, sort_keys=True)
            | "Write"
            >> beam.io.WriteToText(f"{self.prefix}-dead_letter", file_name_suffix=".jsonl", num_shards=1)
        )


def output_prefix(output: str) -> str:
    """``output`` as a file prefix; a directory (trailing ``/``) gets ``part``."""
    return output + "part" if output.endswith("/") else output


def matching(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def prepare_output(prefix: str, overwrite: bool) -> str:
    """Returns the marker path; refuses (or with ``overwrite`` removes) an earlier run's files."""
    marker = paths.join(posixpath.dirname(prefix) or ".", paths.SUCCESS)
    old = matching(f"{prefix}-*") + ([marker] if FileSystems.exists(marker) else [])
    if old and not overwrite:
        raise errors.OutputExists(
            f"{prefix} already has output ({old[:3]}...); pass overwrite=True/--overwrite", prefix
        )
    if old:  # the marker first, so no reader trusts a half-replaced output
        FileSystems.delete(sorted(old, key=lambda path: path != marker))
    return marker


def read_counters(result: Any) -> dict[str, int]:
    """The job's counters (committed where the runner has them), including ``records_bad.<reason>``."""
    found = {name: 0 for name in COUNTERS}
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        found[c.key.metric.name] = found.get(c.key.metric.name, 0) + (value or 0)
    return dict(sorted(found.items()))
