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
    from msrec.app import explanations  # imports TensorFlow (signatures): not at --help

    signature, inputs = _request(args)
    client = (clients.RestClient if args.rest else clients.GrpcClient)(args.server, args.model_name)
    try:
        out = client.predict({F.USER_ID: [args.user_id], **inputs}, signature_name=signature)
    except (ServingError, OSError) as err:  # OSError: a connection the client did not wrap
        raise _server_failure(args.server, err) from err
    finally:
        client.close()
    shown = [i for i, item in enumerate(out[S.ITEM_IDS][0][: args.k]) if _text(item)]
    ids = [_text(out[S.ITEM_IDS][0][i]) for i in shown]
    scores = [round(float(out[S.SCORES][0][i]), 5) for i in shown]
    if args.explain:
        for line in explanations.sentences(out, shown):
            print(line)
    print(json.dumps({"user_id": args.user_id, "item_ids": ids, "scores": scores}))
    return 0


def _request(args: argparse.Namespace) -> tuple[str, dict[str, list[list[str]]]]:
    """The signature ``msrec recommend``'s flags ask, and its inputs besides the user id."""
    from msrec import signatures as S

    rules = {
        S.INCLUDE_ITEM_IDS: args.include_item,
        S.EXCLUDE_ITEM_IDS: args.exclude_item,
        S.INCLUDE_ATTRIBUTES: args.include_attribute,
        S.EXCLUDE_ATTRIBUTES: args.exclude_attribute,
    }
    if args.explain and any(rules.values()):
        raise errors.BadFlag("--explain answers recommend_user's list, which takes no filters: drop one")
    if args.explain:
        return S.RECOMMEND_USER_EXPLAINED, {}
    if any(rules.values()):
        return S.RECOMMEND_USER_FILTERED, {name: [values or [""]] for name, values in rules.items()}
    return S.RECOMMEND_USER, {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _server_failure(server: str, err: Exception) -> errors.ExpectedError:
    """A client's failure as ``ServerUnavailable`` (nothing answers) or ``ServerError`` (it said no)."""
    code = getattr(getattr(err, "code", None), "name", "UNAVAILABLE")  # ServingError: a grpc.StatusCode
    message = getattr(err, "message", None) or str(err)
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return errors.ServerUnavailable(
            f"no model server answers at {server} ({message})", server, "--server"
        )
    return errors.ServerError(f"the model server at {server} answered {code}: {message}", server, code)
