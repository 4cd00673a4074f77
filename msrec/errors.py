"""The expected ways a stage fails, as types: what went wrong and where, not yet the wording.

Any stage may raise these (this core module imports nothing); the ``msrec`` CLI turns them into one
paragraph that names what to do (``msrec/app/errors.py``), and everything else keeps its traceback
as a bug. Each also derives from the builtin a caller caught before (``FileNotFoundError``,
``ValueError``, ``ConnectionError``), so code that caught those still does.
"""

from __future__ import annotations


class ExpectedError(Exception):
    """A failure the person running msrec can fix; the message says what is wrong.

    Attributes:
      path: the file, directory or address it concerns, when there is one.
      flag: the flag that named it (``--data``), when one did.
    """

    def __init__(self, message: str, path: str | None = None, flag: str | None = None):
        super().__init__(message)
        self.path, self.flag = path, flag


class MissingInput(ExpectedError, FileNotFoundError):
    """An input (a data directory, a file, a glob) does not exist."""


class UnfinishedInput(ExpectedError, FileNotFoundError):
    """A data directory exists but its preprocessing run did not finish (no ``_SUCCESS``)."""


class NoModel(ExpectedError, FileNotFoundError):
    """A directory that should hold a trained model or an exported version does not."""


class ServerUnavailable(ExpectedError, ConnectionError):
    """No model server answers at an address (nothing listens there, or it refuses)."""


class ServerError(ExpectedError):
    """A model server answered with an error status (an unknown model, a bad request).

    Attributes:
      code: the gRPC status code's name (``NOT_FOUND``).
    """

    def __init__(self, message: str, path: str | None = None, code: str = "UNKNOWN"):
        super().__init__(message, path, "--server")
        self.code = code


class BadConfig(ExpectedError, ValueError):
    """A config file or a ``--set`` value that cannot be read (syntax, an unknown key, a bad value)."""


class BadFlag(ExpectedError, ValueError):
    """A flag's value is out of range or contradicts another flag."""


class OutputExists(ExpectedError, FileExistsError):
    """An output directory or prefix already holds an earlier run's files."""


class JobFailed(ExpectedError, RuntimeError):
    """A Beam job's runner reported that the job failed; its output was not marked finished.

    Attributes:
      runner: the runner's class name (``PrismRunner``, ``PortableRunner``, ``DataflowRunner``).
      state: how it ended (``FAILED``, ``CANCELLED``, or ``without a final state`` when the job
        service's stream broke off: the job outlived ``--job_server_timeout``, or the service died).
      detail: the runner's reason, one line.
    """

    def __init__(self, runner: str, state: str, detail: str, output: str):
        super().__init__(f"the Beam job on {runner} ended {state}: {detail}", output, "--output")
        self.runner, self.state, self.detail = runner, state, detail
