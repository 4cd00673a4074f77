"""A runner's report that a Beam job failed becomes ``JobFailed``; anything else keeps its type."""

import pytest

from msrec import errors, jobs
from msrec.app import errors as app_errors

PRISM_SAYS = (
    "Pipeline job-001 failed in state FAILED: bundle inst010 stage-082 failed:SDK worker disconnected: "
    "worker[job-001[job]_ref_Environment_default_environment_1], 14 active instructions\nTraceback ..."
)


class PrismRunner:
    """Stands in for a portable runner: ``run`` returns at once, the result raises when it failed."""


class Result:
    def __init__(self, state: str, error: Exception | None):
        self.state, self.error = state, error

    def wait_until_finish(self):
        if self.error:
            raise self.error
        return self.state


class Pipeline:
    runner = PrismRunner()

    def __init__(self, state: str, error: Exception | None = None):
        self.result = Result(state, error)

    def run(self):
        return self.result


def test_a_failed_job_is_named_with_the_runners_reason():
    with pytest.raises(errors.JobFailed) as failed:
        jobs.run_to_end(Pipeline("FAILED", RuntimeError(PRISM_SAYS)), "/runs/out")
    err = failed.value
    assert (err.runner, err.state, err.path) == ("PrismRunner", "FAILED", "/runs/out")
    assert err.detail == PRISM_SAYS.split(": ", 1)[1].split("\n")[0]  # one line, without the preamble
    message = " ".join(app_errors.explain(err).split())
    assert message.startswith("msrec: the Beam job on PrismRunner ended FAILED: bundle inst010 stage-082")
    assert "No _SUCCESS was written for /runs/out" in message and "again with --overwrite" in message


def test_a_finished_job_returns_its_result_and_other_errors_keep_their_type():
    pipeline = Pipeline("DONE")
    assert jobs.run_to_end(pipeline, "/out") is pipeline.result
    with pytest.raises(KeyError):  # the job did not end FAILED: not the runner's report, a bug
        jobs.run_to_end(Pipeline("RUNNING", KeyError("x")), "/out")
    long = RuntimeError("Pipeline j failed in state CANCELLED: " + "x" * 400)
    with pytest.raises(errors.JobFailed) as failed:
        jobs.run_to_end(Pipeline("PipelineState.CANCELLED", long), "/out")
    assert failed.value.state == "CANCELLED" and len(failed.value.detail) == jobs.DETAIL_CHARS


class LostStream(Exception):
    """What grpc raises when a job service's stream ends: ``code()`` and ``details()``."""

    def __init__(self, name: str, details: str):
        super().__init__(details)
        self.name, self.text = name, details

    def code(self):
        return type("StatusCode", (), {"name": self.name})()

    def details(self):
        return self.text


def test_a_lost_job_service_is_a_sentence_that_names_the_deadline_flag():
    deadline = LostStream("DEADLINE_EXCEEDED", "Stream removed (Deadline Exceeded)")
    with pytest.raises(errors.JobFailed) as failed:
        jobs.run_to_end(Pipeline("RUNNING", deadline), "/runs/out")
    message = " ".join(app_errors.explain(failed.value).split())
    assert message.startswith(
        "msrec: the Beam job on PrismRunner ended without a final state: the job service's stream ended "
        "(DEADLINE_EXCEEDED, Stream removed (Deadline Exceeded)): the job outlived --job_server_timeout "
        "(300 s unless given; pass --job_server_timeout=SECONDS beyond the job's length), or the job "
        "service stopped. No _SUCCESS was written for /runs/out"
    )
    with pytest.raises(errors.JobFailed) as failed:
        jobs.run_to_end(Pipeline("RUNNING", LostStream("CANCELLED", "RST_STREAM")), "/out")
    assert failed.value.detail.startswith("the job service's stream ended (CANCELLED, RST_STREAM): ")
