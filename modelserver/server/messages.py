"""Bounded echoes of request fields in error messages.

An error that names what the client sent (a model, signature, input or output name, a label, a path)
helps the client, but a hostile client can send a 30 MiB name and have it copied into the answer and
the logs. Every such echo goes through ``clip``; the whole message is then bounded once more by the
front (``modelserver.status.truncate``, TF Serving's 1024 characters).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_ECHO_CHARS = 200


def clip(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """``str(value)``, cut to ``limit`` characters plus "..." when longer."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def set_str(names: Iterable[str], limit: int = MAX_ECHO_CHARS) -> str:
    """TF Serving's "{a,b}" spelling of a set of names (sorted), each name and the whole list clipped."""
    return "{" + clip(",".join(clip(name, limit) for name in sorted(names)), 5 * limit) + "}"
