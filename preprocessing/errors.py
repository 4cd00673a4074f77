"""The expected ways a preprocessing run fails, each carrying where: source, file and report.

``pipeline.run`` raises these before any work starts (a source has no file, or only empty
ones) or after the run (a source has no rows, or dead-letters too many of them). The
``msrec`` CLI turns them into one paragraph for people (``msrec/app/errors.py``); everything
else is a bug and keeps its traceback. No Beam here, so the CLI imports it cheaply.
"""

from __future__ import annotations

from typing import Any, Mapping


class SourceError(Exception):
    """A source's data cannot make a dataset.

    Attributes:
      source: the source kind (``interactions``, ``items`` ...).
      file: the path or glob the source reads, as resolved against the input directory.
      report: per source, ``read``/``valid``/``dead_letter``/``reasons``, when the run got that far.
    """

    def __init__(self, message: str, source: str, file: str, report: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.source, self.file, self.report = source, file, report


class MissingSourceError(SourceError, FileNotFoundError):
    """No file matches a configured source (a wrong ``--input``, or a folder without it)."""


class EmptySourceError(SourceError, ValueError):
    """A source's files are empty, or hold nothing but a header."""


class BadSourceError(SourceError, RuntimeError):
    """A source dead-lettered more than ``max_bad_fraction`` of its rows.

    Attributes:
      fractions: every source over the limit -> its dead-letter fraction (``source`` is the worst).
      max_bad_fraction: the limit.
      files: every source -> the path or glob it read.
      dead_letter_dir: where the run wrote every bad row with its reason.
    """

    def __init__(
        self,
        fractions: Mapping[str, float],
        max_bad_fraction: float,
        files: Mapping[str, str],
        report: Mapping[str, Any],
        dead_letter_dir: str,
    ):
        worst = max(fractions, key=lambda k: (fractions[k], k))
        message = f"dead-letter fraction above {max_bad_fraction}: {dict(fractions)}; report: {dict(report)}"
        super().__init__(message, worst, files[worst], report)
        self.fractions, self.max_bad_fraction = dict(fractions), max_bad_fraction
        self.files = dict(files)
        self.dead_letter_dir = dead_letter_dir


def check_report(
    report: Mapping[str, Mapping[str, Any]],
    files: Mapping[str, str],
    max_bad_fraction: float,
    dead_letter_dir: str,
) -> None:
    """Fails a finished run whose sources cannot make a dataset.

    Args:
      report: ``pipeline.source_report``: per source, read = valid + dead-lettered.
      files: source -> the path or glob it read.
      max_bad_fraction: the largest share of a source's rows that may be dead-lettered.
      dead_letter_dir: where the dead letters are, for the message.

    Raises:
      EmptySourceError: a source read no row (a file with only a header).
      BadSourceError: a source dead-lettered more than ``max_bad_fraction``, or no interaction is
        valid (nothing to split, whatever the limit).
    """
    for kind, r in report.items():
        if not r["read"]:
            raise EmptySourceError(
                f"source {kind!r}: {files[kind]} has no rows (only a header or blank lines)",
                kind,
                files[kind],
                report,
            )
    fractions = {k: r["dead_letter"] / r["read"] for k, r in report.items()}
    too_bad = {k: f for k, f in fractions.items() if f > max_bad_fraction}
    if "interactions" in report and not report["interactions"]["valid"]:
        too_bad["interactions"] = fractions["interactions"]
    if too_bad:
        raise BadSourceError(too_bad, max_bad_fraction, files, report, dead_letter_dir)
