"""The commands around a model server: ``msrec serve`` starts one, ``msrec recommend`` asks one.

Both use the TF Serving stand-in (``modelserver/``), which knows nothing of
msrec; what it raises becomes an ``msrec.errors`` type here, so a server that does not answer is
a sentence (``errors.py``) rather than a gRPC or urllib traceback.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from msrec import errors

DESCRIPTION = "Serve SavedModels over TF Serving's gRPC and REST APIs, with its flags."
PROG = "msrec serve"


def parse(argv: list[str]) -> Any:
    """The server's flags (TF Serving's names) as its own parser reads them: a ``ServerConfig``."""
    from modelserver.server import options  # without TensorFlow: --help answers at once

    return options.parse_args(argv, DESCRIPTION, PROG)


def serve(args: argparse.Namespace) -> int:
    from modelserver.server import main as server

    return server.main(args.server_argv, PROG)


def recommend(args: argparse.Namespace) -> int:
    from modelserver import client as clients
    from modelserver.status import ServingError
    from msrec import features as F
    from msrec import signatures as S

    client = (clients.RestClient if args.rest else clients.GrpcClient)(args.server, args.model_name)
    try:
        out = client.predict({F.USER_ID: [args.user_id]}, signature_name=S.RECOMMEND_USER)
    except (ServingError, OSError) as err:  # OSError: a connection the client did not wrap
        raise _server_failure(args.server, err) from err
    finally:
        client.close()
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in out[S.ITEM_IDS][0][: args.k]]
    scores = [round(float(s), 5) for s in out[S.SCORES][0][: args.k]]
    print(json.dumps({"user_id": args.user_id, "item_ids": ids, "scores": scores}))
    return 0


def _server_failure(server: str, err: Exception) -> errors.ExpectedError:
    """A client's failure as ``ServerUnavailable`` (nothing answers) or ``ServerError`` (it said no)."""
    code = getattr(getattr(err, "code", None), "name", "UNAVAILABLE")  # ServingError: a grpc.StatusCode
    message = getattr(err, "message", None) or str(err)
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return errors.ServerUnavailable(
            f"no model server answers at {server} ({message})", server, "--server"
        )
    return errors.ServerError(f"the model server at {server} answered {code}: {message}", server, code)
