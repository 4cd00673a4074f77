"""Progress lines of a long preprocessing run: which step, rows read per source, time elapsed.

Beam's DirectRunner reports metrics only once the run has ended, so the steps that take long print
a line to stderr as they go (``msrec preprocess [02:15] interactions: 2,000,000 rows read from
ratings.csv``): each source file at 100,000, 200,000, 500,000, 1,000,000, ... rows and when it is
done, the scoring graph's regression when it starts and ends, and the text encoder per batch it
encodes. Each worker process prints its own lines (the DirectRunner's workers share the terminal;
on Dataflow they land in the worker logs, and the console shows the ``msrec.preprocess`` counters
live). Times count from when the pipeline was built, on the driver's clock.
"""

from __future__ import annotations

import dataclasses
import sys
import time


def due(count: int) -> bool:
    """Whether ``count`` rows is a milestone: 100,000, 200,000, 500,000, 1,000,000, 2,000,000, ..."""
    if count < 100_000:
        return False
    magnitude = 10 ** (len(str(count)) - 1)
    return count % magnitude == 0 and count // magnitude in (1, 2, 5)


@dataclasses.dataclass(frozen=True)
class Clock:
    """Prints progress lines with the time since ``started`` (picklable: DoFns carry it)."""

    started: float = dataclasses.field(default_factory=time.time)

    def say(self, message: str) -> None:
        elapsed = int(time.time() - self.started)
        print(
            f"msrec preprocess [{elapsed // 60:02d}:{elapsed % 60:02d}] {message}",
            file=sys.stderr,
            flush=True,
        )
