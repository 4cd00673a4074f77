"""Running a Beam job to its end, for the stages that build one (preprocessing, batch inference).

A portable runner (Prism, Spark, Flink) or Dataflow runs the job elsewhere and reports how it ended:
``pipeline.run()`` returns at once and ``wait_until_finish`` raises when the runner says FAILED (a
lost SDK worker or executor, a bundle's error after its retries). That is an expected failure: the
stage has not written its finished marker (``_SUCCESS``), and the person running msrec reruns it.
The in-process DirectRunner raises a DoFn's exception from ``pipeline.run()`` itself, which stays
what it is (a bug keeps its traceback). This module imports nothing of Beam: it is given the pipeline.
"""

from __future__ import annotations

from typing import Any

from msrec import errors

FAILED_STATES = ("FAILED", "CANCELLED")  # apache_beam.runners.runner.PipelineState's terminal failures
DETAIL_CHARS = 300  # of the runner's message: its first line, which names the bundle and the cause


def run_to_end(pipeline: Any, output: str) -> Any:
    """Runs ``pipeline`` and waits for its end; returns the runner's result.

    Raises:
      msrec.errors.JobFailed: the runner reported the job FAILED or CANCELLED.
    """
    result = pipeline.run()
    try:
        result.wait_until_finish()
    except Exception as err:
        state = str(getattr(result, "state", ""))
        if state.rsplit(".", 1)[-1] not in FAILED_STATES:
            raise
        runner = type(pipeline.runner).__name__
        raise errors.JobFailed(runner, state.rsplit(".", 1)[-1], _detail(err), output) from err
    return result


def _detail(err: BaseException) -> str:
    """The runner's own reason, without Beam's "Pipeline <id> failed in state FAILED:" preamble."""
    text = str(err).strip()
    if " failed in state " in text.split("\n", 1)[0]:
        text = text.split(": ", 1)[-1]
    line = text.split("\n", 1)[0].strip() or type(err).__name__
    return line if len(line) <= DETAIL_CHARS else line[: DETAIL_CHARS - 3] + "..."
