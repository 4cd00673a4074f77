"""Expected failures: what a user can cause and fix, raised by any stage and explained by the app.

Each is one sentence saying what is wrong; ``msrec/app/errors.py`` adds what to do and exits 2.
Anything else that escapes a command is a bug and keeps its traceback.
"""

from __future__ import annotations


class ExpectedError(Exception):
    """A failure the user can fix; its message names the thing at fault."""


class MissingInput(ExpectedError):
    """A path the command reads does not exist."""


class UnfinishedInput(ExpectedError):
    """A path exists but is not a finished output of the stage that should have written it."""


class NoModel(ExpectedError):
    """A model directory or export base holds no trained model or exported version."""


class ServerUnavailable(ExpectedError):
    """A server cannot be reached or refuses the request."""


class BadConfig(ExpectedError):
    """A config file, ``--set`` value or flag value cannot be used."""
