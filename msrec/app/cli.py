"""The ``msrec`` command: one entry point for every stage.

``main`` parses the flags (``parsers.py``), checks that what they name is there
(``checks.py``), starts TensorFlow quietly (``quiet.py``) and calls the command's
handler (``commands.py``), which calls one pure ``run``-style function of its stage;
nothing else in msrec reads flags or the environment. An expected failure becomes one
paragraph and exit status 2 (``errors.py``). Flags that ``preprocess`` and
``batch-predict`` do not know are passed to Beam as pipeline options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from msrec.app import checks, commands, errors, parsers, quiet

BEAM_JOBS = ("preprocess", "batch-predict")  # their unknown flags are the runner's


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv  # anywhere: `msrec --verbose export ...` or `msrec export ... --verbose`
    debug = "--debug" in argv  # likewise
    quiet.configure(verbose)
    argv = [a for a in argv if a not in ("--verbose", "--debug")]
    try:
        args = parse(argv)
        checks.before(args)  # a wrong path is a sentence before TensorFlow loads
        if not verbose and args.command != "generate":
            quiet.start_tensorflow()
        return commands.HANDLERS[args.command](args)
    except Exception as err:  # an expected failure becomes one paragraph (msrec/app/errors.py)
        status = errors.report(err, debug)
        if status is None:
            raise
        return status


def parse(argv: list[str]) -> argparse.Namespace:
    """The command and its flags; ``beam_args`` holds what a Beam job passes on to its runner."""
    if argv[:1] == ["serve"]:  # the server's own flags (TF Serving's names): checks.before parses them
        return argparse.Namespace(command="serve", server_argv=argv[1:])
    parser = parsers.build()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command not in BEAM_JOBS:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.beam_args = unknown
    return args


if __name__ == "__main__":
    raise SystemExit(main())
