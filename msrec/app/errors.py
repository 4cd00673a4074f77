"""What people see when a command fails for an expected reason: one paragraph, exit status 2.

``cli.main`` hands every exception of a command to ``report``. An expected failure (a path that
is not there, a data directory whose preprocessing did not finish, a model directory without a
model, a server that does not answer, a config that cannot be used, a source without files or
rows, too many bad rows) becomes one paragraph naming what is wrong and what to do, followed by
the per-source report when a preprocessing run got that far; ``--debug`` adds the traceback.
Anything else is a bug: ``report`` returns None and the caller re-raises it, traceback and all.

The stages and ``msrec/app/checks.py`` raise typed exceptions (``msrec/errors.py``,
``preprocessing/errors.py``) carrying that context; the wording lives here, once.
"""

from __future__ import annotations

import os
import sys
import textwrap
import traceback
from typing import Any, Callable, Mapping, TextIO

from msrec import errors, paths
from msrec.app import progress
from msrec.source_config import ConfigError
from preprocessing import errors as source_errors
from preprocessing.lines import MAX_LINE_BYTES

EXIT_STATUS = 2
WIDTH = 100
DOCS = "docs/sources.md"

# What to check when most of a source's bad rows share a reason.
ADVICE = {
    "bad_encoding": "Most rows are not text in the source's encoding: check that it is the right file "
    "(not binary or compressed) and that the source's `encoding` matches it.",
    "line_too_long": f"It has lines longer than {MAX_LINE_BYTES:,} bytes, so it is not a table with one row "
    "per line: check that it is the right file.",
    "missing_columns": "Its rows do not have the columns the config expects: check the source's "
    "`delimiter`, `header`, `columns` and `fields`.",
    "unknown_reference": "Its rows name ids the referenced source does not have: check that the files "
    "come from the same dataset and release, or drop the `references` entry.",
    "bad_timestamp": "Its times do not parse or fall outside the source's `timestamp_window`: check the "
    "timestamp column and the window.",
    "bad_weight": "Its weights are not finite numbers: check which column `fields` maps to `weight`.",
    "bad_json": "Its lines are not JSON objects: check that it is JSON Lines, or the source's `format`.",
    "duplicate": "Many rows repeat earlier ones word for word: check that no file was appended twice.",
}
ADVICE["extra_columns"] = ADVICE["missing_field"] = ADVICE["missing_columns"]


def _config(err: ConfigError) -> str:
    if err.path is None or not os.path.exists(err.path):  # a name that is neither preset nor file
        return f"{err}. Name a built-in dataset or the path of a YAML source config ({DOCS})."
    return f"{err}. Fix the config as {DOCS} describes."


def _missing(err: source_errors.MissingSourceError) -> str:
    return (
        f"source '{err.source}' has no file: nothing matches {err.file}. Pass --input the folder that "
        f"holds the dataset's files, or correct the source's `path` in its config ({DOCS})."
    )


def _empty(err: source_errors.EmptySourceError) -> str:
    return (
        f"{err}. Check that the file was downloaded or exported completely and that --input is the "
        "dataset's folder; a source the dataset lacks can be left out of the config."
    )


def _bad(err: source_errors.BadSourceError) -> str:
    parts = []
    for kind, fraction in sorted(err.fractions.items(), key=lambda kv: (-kv[1], kv[0])):
        r = err.report[kind]
        reasons = ", ".join(f"{k}={v:,}" for k, v in r["reasons"].items())
        limit = (
            f"more than the {err.max_bad_fraction} allowed"
            if fraction > err.max_bad_fraction
            else "and no valid interaction is left"
        )
        parts.append(
            f"source '{kind}' ({err.files[kind]}) dead-lettered {r['dead_letter']:,} of its "
            f"{r['read']:,} rows ({reasons}), {limit}."
        )
    parts.append(_advice(err.report[err.source]))
    parts.append(f"Every bad row is in {err.dead_letter_dir} with its file, line and reason")
    over = any(f > err.max_bad_fraction for f in err.fractions.values())
    return " ".join(parts) + ("; if that many are expected, raise --max-bad-fraction." if over else ".")


def _advice(report: Mapping[str, Any]) -> str:
    """What to check, when one reason accounts for most of a source's bad rows."""
    reasons = report["reasons"]
    common = max(reasons, key=lambda k: (reasons[k], k)) if reasons else ""
    if common in ADVICE and 2 * reasons[common] > report["dead_letter"]:
        return ADVICE[common]
    return f"{DOCS} (Bad rows) explains each reason."


def _checkpoint(err: BaseException) -> str:
    return f"{err} Or set data.text_encoder=none to preprocess without item text vectors."


PREPROCESS = "`msrec preprocess --output DIR`"
# What to do about a path a flag named that is not there, by flag.
MISSING = {
    "--data": f"Pass --data the output directory of a finished {PREPROCESS} run.",
    "--config": "Pass --config the path of a config file (JSON or YAML), or leave it out for the defaults.",
    "--data-config": "Pass --data-config the path of a config file (JSON or YAML), or leave it out.",
    "--input": "Pass --input the folder that holds the dataset's files (batch-predict: the file or glob "
    "of its requests).",
    "--new-items": "Pass --new-items a JSON Lines file of the new items.",
    "--model_base_path": "Pass --model_base_path the --export-base directory of `msrec export` (it holds "
    "<version>/ directories).",
    "--model_config_file": "Pass --model_config_file the path of a ModelServerConfig text proto.",
}
# What to do about a directory without a model, by flag.
NO_MODEL = {
    "--model-dir": "Pass --model-dir the directory `msrec train --model-dir` wrote; a training run that "
    "stopped before its end saves no model there.",
    "--export": "Pass --export a version directory DIR/<version>/ that `msrec export --export-base DIR` "
    "wrote.",
    "--model": "Pass --model a version directory DIR/<version>/, or the --export-base DIR of `msrec export`.",
}


def _missing_input(err: errors.MissingInput) -> str:
    return f"{err}. {MISSING.get(err.flag or '', 'Check the path.')}"


def _unfinished(err: errors.UnfinishedInput) -> str:
    return (
        f"{err}: preprocessing writes {paths.SUCCESS} last, so it stopped or is still running. Run "
        f"`msrec preprocess --output {err.path} --overwrite` to completion, or pass --data the output "
        "directory of a run that finished."
    )


def _job_failed(err: errors.JobFailed) -> str:
    return (
        f"{err}. No {paths.SUCCESS} was written for {err.path}, so no later stage reads its partial files. "
        "The runner's log above (and its workers' logs) says more; once the cause is fixed, run the same "
        "command again with --overwrite, or with a new --output."
    )


def _no_model(err: errors.NoModel) -> str:
    return f"{err}. {NO_MODEL.get(err.flag or '', '')}".strip()


def _unavailable(err: errors.ServerUnavailable) -> str:
    return (
        f"{err}. Start one with `msrec serve --model_base_path DIR --port PORT` (add --rest_api_port PORT "
        "for --rest) and pass --server HOST:PORT of it; one that is starting answers once its model loaded."
    )


def _server_error(err: errors.ServerError) -> str:
    advice = {
        "NOT_FOUND": "Check --model_name: it is the name `msrec serve --model_name` was given.",
        "INVALID_ARGUMENT": "Check that the server serves an msrec export (its recommend_user signature).",
    }
    return f"{err}. {advice.get(err.code, 'The server log says more.')}"


def _bad_config(err: errors.BadConfig) -> str:
    return (
        f"{err}. Fix the file or the --set value (KEY=VALUE, e.g. train.epochs=8); msrec/config.py "
        "documents every key."
    )


def _expected(err: errors.ExpectedError) -> str:
    return f"{err}."


def messages() -> tuple[tuple[type[BaseException], Callable[..., str]], ...]:
    """Each expected failure's type and its wording, most specific first."""
    from msrec.text.checkpoint import CheckpointNotFoundError  # numpy: not for `msrec --help`

    return ((CheckpointNotFoundError, _checkpoint), *MESSAGES)


MESSAGES: tuple[tuple[type[BaseException], Callable[..., str]], ...] = (
    (ConfigError, _config),
    (source_errors.MissingSourceError, _missing),
    (source_errors.EmptySourceError, _empty),
    (source_errors.BadSourceError, _bad),
    (errors.MissingInput, _missing_input),
    (errors.UnfinishedInput, _unfinished),
    (errors.NoModel, _no_model),
    (errors.JobFailed, _job_failed),
    (errors.ServerUnavailable, _unavailable),
    (errors.ServerError, _server_error),
    (errors.BadConfig, _bad_config),
    (errors.ExpectedError, _expected),  # BadFlag, OutputExists and the rest: their message says it
)


def explain(err: BaseException) -> str | None:
    """The paragraph for an expected failure, or None when ``err`` is a bug."""
    for kind, message in messages():
        if isinstance(err, kind):
            return textwrap.fill(
                f"msrec: {message(err)}", WIDTH, break_long_words=False, break_on_hyphens=False
            )
    return None


def report(err: BaseException, debug: bool = False, stream: TextIO | None = None) -> int | None:
    """Prints an expected failure (traceback first with ``debug``) and returns the exit status.

    Returns:
      ``EXIT_STATUS``, or None when ``err`` is not an expected failure: the caller re-raises it.
    """
    message = explain(err)
    if message is None:
        return None
    stream = stream or sys.stderr
    if debug:
        traceback.print_exception(err, file=stream)
    print(message, file=stream)
    source_report = getattr(err, "report", None)
    if source_report:
        progress.print_source_report(source_report, stream)
    return EXIT_STATUS
