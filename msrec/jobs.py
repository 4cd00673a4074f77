"""Running a Beam job to its end, for the stages that build one (preprocessing, batch inference).

A portable runner (Prism, Spark, Flink) or Dataflow runs the job elsewhere and reports how it ended:
``pipeline.run()`` returns at once and ``wait_until_finish`` raises when the runner says FAILED (a
lost SDK worker or executor, a bundle's error after its retries). That is an expected failure: the
stage has not written its finished marker (``_SUCCESS``), and the person running msrec reruns it.
So is a job whose job-service stream broke off before a final state (a gRPC error: the service died,
or, in Beam 2.77, the job outlived ``--job_server_timeout``, which is that stream's deadline).
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
    runner = type(pipeline.runner).__name__
    try:
        result.wait_until_finish()
    except Exception as err:
        state = str(getattr(result, "state", "")).rsplit(".", 1)[-1]
        if state in FAILED_STATES:
            raise errors.JobFailed(runner, state, _detail(err), output) from err
        if lost := _lost_job_service(err):
            raise errors.JobFailed(runner, "without a final state", lost, output) from err
        raise
    return result


def _lost_job_service(err: BaseException) -> str:
    """Why the job service's stream ended, when ``err`` is a gRPC error (duck-typed: no grpc import)."""
    code = getattr(err, "code", None)
    if not callable(code) or not hasattr(code(), "name"):
        return ""
    details = getattr(err, "details", None)
    said = f"{code().name}, {details()}" if callable(details) else code().name
    # Beam 2.77 gives the job's state stream --job_server_timeout as its deadline; at it the stream
    # ends DEADLINE_EXCEEDED or, racing the server, CANCELLED.
    return (
        f"the job service's stream ended ({said}): the job outlived --job_server_timeout (300 s unless "
        "given; pass --job_server_timeout=SECONDS beyond the job's length), or the job service stopped"
    )


def _detail(err: BaseException) -> str:
    """The runner's own reason, without Beam's "Pipeline <id> failed in state FAILED:" preamble."""
    text = str(err).strip()
    if " failed in state " in text.split("\n", 1)[0]:
        text = text.split(": ", 1)[-1]
    line = text.split("\n", 1)[0].strip() or type(err).__name__
    return line if len(line) <= DETAIL_CHARS else line[: DETAIL_CHARS - 3] + "..."
