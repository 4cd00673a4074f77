"""What people see when a command fails for an expected reason: one paragraph, exit status 2.

``cli.main`` hands every exception of a command to ``report``. An expected failure (a
config that cannot be used, a source without files or rows, too many bad rows) becomes
one paragraph naming the source, the file and what to do, followed by the per-source
report when the run got that far; ``--debug`` adds the traceback. Anything else is a bug:
``report`` returns None and the caller re-raises it, traceback and all.

The stages raise typed exceptions carrying that context; the wording lives here, once.
"""

from __future__ import annotations

import os
import sys
import textwrap
import traceback
from typing import Any, Callable, Mapping, TextIO

from msrec.app import progress
from msrec.source_config import ConfigError
from msrec.text.checkpoint import CheckpointNotFoundError
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


MESSAGES: tuple[tuple[type[BaseException], Callable[..., str]], ...] = (
    (CheckpointNotFoundError, _checkpoint),
    (ConfigError, _config),
    (source_errors.MissingSourceError, _missing),
    (source_errors.EmptySourceError, _empty),
    (source_errors.BadSourceError, _bad),
)


def explain(err: BaseException) -> str | None:
    """The paragraph for an expected failure, or None when ``err`` is a bug."""
    for kind, message in MESSAGES:
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
