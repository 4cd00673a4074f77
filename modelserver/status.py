"""Errors with TF Serving's status codes, shared by the server's gRPC and REST fronts and the clients.

TF Serving reports every failure as a canonical status (a gRPC code plus a message); its REST front maps
the code to an HTTP status with a fixed table (``ToHTTPStatusCode`` in ``model_servers/http_server.cc``).
Both are reproduced here so the local server and the clients agree with production on what a failure is.
Tests and callers should assert codes and message *substrings*: TF Serving's prefixes vary by version.
"""

from __future__ import annotations

import grpc

# gRPC error messages longer than this are cut, as TF Serving does (grpc_status_util.cc).
MAX_MESSAGE_CHARS = 1024

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# HTTP → gRPC for the REST client. 400 is ambiguous (three codes map to it); INVALID_ARGUMENT is the
# usual one, and 409 likewise maps to ABORTED.
_FROM_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class ServingError(Exception):
    """A request failure with a canonical status code, as TF Serving reports it.

    Raised by the server internals (and turned into a gRPC status or an HTTP error by the fronts) and by
    both clients, so callers handle gRPC and REST failures the same way.

    Attributes:
        code: the ``grpc.StatusCode``.
        message: the status message (without the code).
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST front answers for this code."""
        return http_status(self.code)


def http_status(code: grpc.StatusCode) -> int:
    """Returns the HTTP status for a gRPC code (TF Serving's ``ToHTTPStatusCode``)."""
    return _HTTP_STATUS.get(code, 500)


def code_from_http(status: int) -> grpc.StatusCode:
    """Returns the most likely gRPC code for an HTTP error status."""
    if status in _FROM_HTTP:
        return _FROM_HTTP[status]
    return grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.UNKNOWN


def truncate(message: str) -> str:
    """Cuts a message to TF Serving's gRPC limit, marking the cut."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS] + "...TRUNCATED"


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)
