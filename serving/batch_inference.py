r"""Batch inference: a Beam job that runs the exported signatures over files of users or tf.Examples.

    ReadRequests --> Spread --> Predict (RunInference, SavedModelHandler) --> WritePredictions
         \--> bad records ------------\--> failed batches -------------------> WriteDeadLetters
    then, on the driver: the counters, the bad-fraction check and ``<dir>/_SUCCESS`` (a manifest).

The job calls the same SavedModel signatures TF Serving serves (``recommend_user`` for a list of user ids,
``serving_default`` for tf.Examples of query features), and parses examples with the contract read from
the model's own signature, so batch and online answers cannot drift apart. ``run`` takes Beam pipeline
options unchanged, so the same code runs on the DirectRunner, Dataflow, Flink or Spark.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from typing import Any, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from msrec import errors, flags, paths
from msrec import features as F
from msrec import signatures as S
from msrec.signatures import ITEM_IDS, SCORES
from serving import batch_io
from serving.batch_io import EXAMPLES, JSONL, USERS

SERVING_DEFAULT, RECOMMEND_USER = S.DEFAULT, S.RECOMMEND_USER  # inspect_model checks the model has them
SIGNATURE_OF = {USERS: RECOMMEND_USER, EXAMPLES: SERVING_DEFAULT}


class BadInputError(errors.ExpectedError, RuntimeError):
    """More records were dead-lettered than ``max_bad_fraction`` allows; no ``_SUCCESS`` was written."""


def resolve_version(model_dir_or_base: str) -> str:
    """A version directory as is, or a model base's highest integer version that has a SavedModel."""
    if tf.saved_model.contains_saved_model(model_dir_or_base):
        return model_dir_or_base
    versions = S.versions(model_dir_or_base)
    if not versions:
        raise errors.NoModel(
            f"{model_dir_or_base} is neither a SavedModel nor a base of <version>/ ones",
            model_dir_or_base,
            "--model",
        )
    return paths.join(model_dir_or_base, str(max(versions)))


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the driver reads from the model before the pipeline starts; travels to workers pickled."""

    version_dir: str
    signature: str
    features: tuple[F.Feature, ...]  # the serving_default inputs, i.e. the query features
    top_k: int


@functools.lru_cache(maxsize=8)  # a version directory never changes once published
def inspect_model(version_dir: str, signature: str) -> ModelInfo:
    loaded = tf.saved_model.load(version_dir)
    missing = {signature, SERVING_DEFAULT} - set(loaded.signatures)
    if missing:
        raise ValueError(f"{version_dir} has no signature(s) {sorted(missing)}")
    specs = loaded.signatures[SERVING_DEFAULT].structured_input_signature[1]
    top_k = loaded.signatures[signature].structured_outputs[ITEM_IDS].shape[1]
    return ModelInfo(version_dir, signature, batch_io.signature_contract(specs), int(top_k))


def check_k(k: int | None, top_k: int) -> int:
    if k is None:
        return top_k
    if not 1 <= k <= top_k:
        raise errors.BadFlag(f"k={k} must be between 1 and the exported top-K ({top_k}); re-export for more")
    return k


class SavedModelHandler(ModelHandler[Any, PredictionResult, Any]):
    """RunInference on a plain SavedModel signature, one signature call per batch.

    Beam's TF handler loads with Keras, which rejects ``tf.saved_model.save`` output; this one loads the
    SavedModel itself, once per worker process, shared by its threads (RunInference's ``shared.Shared``).
    Examples are user ids (``recommend_user``) or serialized tf.Examples (``serving_default``), parsed
    in one ``tf.io.parse_example`` per batch with the contract's ``parse_spec`` and ``densify``.
    """

    def __init__(
        self, info: ModelInfo, k: int, min_batch_size: int | None = None, max_batch_size: int | None = None
    ):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.info, self.k = info, k

    def load_model(self) -> Any:
        return tf.saved_model.load(self.info.version_dir)

    def run_inference(self, batch, model, inference_args=None) -> list[PredictionResult]:
        outputs = model.signatures[self.info.signature](**self.inputs(batch))
        ids = outputs[ITEM_IDS].numpy()[:, : self.k]
        scores = outputs[SCORES].numpy()[:, : self.k]
        return [
            PredictionResult(
                example,
                {ITEM_IDS: [i.decode("utf-8") for i in row_ids], SCORES: row_scores.tolist()},
                self.info.version_dir,
            )
            for example, row_ids, row_scores in zip(batch, ids, scores, strict=True)
        ]

    def inputs(self, batch: Sequence[Any]) -> dict[str, tf.Tensor]:
        if self.info.signature == RECOMMEND_USER:
            return {F.USER_ID: tf.constant(list(batch), tf.string)}
        parsed = tf.io.parse_example(tf.constant(list(batch)), F.parse_spec(self.info.features))
        return F.densify(parsed, self.info.features)


def _unpack(user_id: str, result: PredictionResult) -> tuple[str, dict[str, list]]:
    beam.metrics.Metrics.counter(batch_io.NAMESPACE, batch_io.RECORDS_OK).inc()
    return user_id, result.inference


def _failed_batch(failure) -> list[dict[str, Any]]:
    batch, (_, error, _) = failure
    letters = []
    for _, payload in batch:
        batch_io.count_bad(batch_io.INFERENCE_FAILED)
        letters.append(batch_io.dead_letter(batch_io.INFERENCE_FAILED, error, payload))
    return letters


class Predict(beam.PTransform):
    """``(user_id, payload)`` -> ``ok``: ``(user_id, {item_ids, scores})``, ``bad``: dead letters."""

    def __init__(self, handler: ModelHandler):
        super().__init__()
        self.handler = handler

    def expand(self, requests):
        results, failed = requests | "RunInference" >> (
            RunInference(KeyedModelHandler(self.handler)).with_exception_handling()
        )
        return {
            "ok": results | "Unpack" >> beam.MapTuple(_unpack),
            "bad": failed.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch),
        }


def build(p: beam.Pipeline, handler: SavedModelHandler, input: str, prefix: str, options: dict) -> None:
    """Adds every step to ``p``; ``options`` holds ``input_format``, ``output_format``, ``num_shards``."""
    requests = p | "ReadRequests" >> batch_io.ReadRequests(
        input, options["input_format"], handler.info.features
    )
    # Breaks fusion, so one big input file still fans out to every worker's model.
    spread = requests.ok | "Spread" >> beam.Reshuffle()
    predictions = spread | "Predict" >> Predict(handler)
    predictions["ok"] | "WritePredictions" >> batch_io.WritePredictions(
        prefix, options["output_format"], options["num_shards"]
    )
    (
        (requests.bad, predictions["bad"])
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters" >> batch_io.WriteDeadLetters(prefix)
    )


def check_bad_fraction(report: dict[str, Any], max_bad_fraction: float) -> None:
    bad = report[batch_io.RECORDS_BAD] / max(report[batch_io.RECORDS_IN], 1)
    if bad > max_bad_fraction:
        raise BadInputError(f"dead-letter fraction {bad:.3f} above {max_bad_fraction}; report: {report}")


def check_options(
    input_format: str, output_format: str, num_shards: int, min_batch: int | None, max_batch: int | None
) -> None:
    """Raises on formats it does not know, fewer than one shard, or batch bounds out of order."""
    if input_format not in batch_io.INPUT_FORMATS or output_format not in batch_io.OUTPUT_FORMATS:
        raise ValueError(f"formats: input {batch_io.INPUT_FORMATS}, output {batch_io.OUTPUT_FORMATS}")
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, not {num_shards}")
    if (min_batch or 1) < 1 or (min_batch or 1) > (max_batch or float("inf")):
        raise errors.BadFlag(f"need 1 <= min_batch_size <= max_batch_size, not {min_batch}, {max_batch}")


def run(
    model_dir_or_base: str,
    input: str,
    output: str,
    input_format: str = USERS,
    output_format: str = JSONL,
    k: int | None = None,
    pipeline_args: Sequence[str] = (),
    *,
    num_shards: int = 1,
    min_batch_size: int | None = None,
    max_batch_size: int | None = None,
    max_bad_fraction: float = 1.0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Runs the job to completion and writes the ``_SUCCESS`` manifest beside the output.

    Returns:
      The report: the counters (``records_in == records_ok + records_bad``), the model version, k, and
      the files written.

    Raises:
      ValueError: a bad format, k, or batch size; FileNotFoundError: no model or no input file;
      FileExistsError: output exists and not ``overwrite``; BadInputError: too many dead letters.
    """
    check_options(input_format, output_format, num_shards, min_batch_size, max_batch_size)
    # Absolute: a portable runner's workers need not run in this process's working directory.
    model_dir_or_base, input, output = map(paths.absolute, (model_dir_or_base, input, output))
    info = inspect_model(resolve_version(model_dir_or_base), SIGNATURE_OF[input_format])
    k = check_k(k, info.top_k)
    if not batch_io.matching(input):
        raise errors.MissingInput(f"no input file matches {input}", input, "--input")
    prefix = batch_io.output_prefix(output)
    marker = batch_io.prepare_output(prefix, overwrite)
    handler = SavedModelHandler(info, k, min_batch_size, max_batch_size)
    started = time.time()
    p = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    options = {"input_format": input_format, "output_format": output_format, "num_shards": num_shards}
    build(p, handler, input, prefix, options)
    result = p.run()
    result.wait_until_finish()
    counters = batch_io.read_counters(result)
    report = {
        **counters,
        "model": info.version_dir,
        "signature": info.signature,
        "k": k,
        "input": input,
        "output": prefix,
        "files": batch_io.shard_names(prefix, output_format, num_shards),
        "dead_letter_files": batch_io.matching(f"{prefix}-dead_letter-*.jsonl"),
        "seconds": round(time.time() - started, 1),
    }
    check_bad_fraction(report, max_bad_fraction)
    with FileSystems.create(marker) as f:
        f.write(json.dumps({**report, "finished": time.time()}, indent=2, sort_keys=True).encode("utf-8"))
    return report


def parser() -> argparse.ArgumentParser:
    """The job's flags, shared with ``msrec batch-predict`` (``msrec/flags.py``)."""
    p = argparse.ArgumentParser(
        prog="msrec batch-predict",
        description="Beam job: top-K for every user id or tf.Example in files, from an exported model.",
        epilog="Unknown flags are Beam pipeline options, e.g. --runner=DataflowRunner "
        "--direct_running_mode=multi_processing --direct_num_workers=2.",
        allow_abbrev=False,
    )
    return flags.batch_prediction(p)


def main(argv: Sequence[str] | None = None) -> int:
    args, beam_args = parser().parse_known_args(argv)
    report = run(
        args.model,
        args.input,
        args.output,
        args.input_format,
        args.output_format,
        args.k,
        beam_args,
        num_shards=args.num_shards,
        min_batch_size=args.min_batch_size,
        max_batch_size=args.max_batch_size,
        max_bad_fraction=args.max_bad_fraction,
        overwrite=args.overwrite,
    )
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
