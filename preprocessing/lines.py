"""Splitting a raw text file into lines with bounded memory, for ``sources.ParseFile``.

Iterating a file object reads each line whole, so a file without line breaks (binary
garbage, a 10 MB blob) would be held in memory at once, and later written out again as
its dead letter. ``read_lines`` keeps at most ``limit`` bytes of any line and says how
long it really was; the caller dead-letters an over-long line (``line_too_long``)
without decoding it.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator, NamedTuple

MAX_LINE_BYTES = 1 << 20  # 1 MiB: far above any real row, far below a worker's memory
CHUNK_BYTES = 1 << 20


class Line(NamedTuple):
    """One line without its end (``\\n``, ``\\r\\n``); ``data`` holds at most the limit's bytes."""

    data: bytes
    length: int  # of the whole line, in bytes

    @property
    def cut(self) -> bool:
        return self.length > len(self.data)


def read_lines(f: BinaryIO, limit: int = MAX_LINE_BYTES, chunk: int = CHUNK_BYTES) -> Iterator[Line]:
    """The lines of ``f``, each cut to its first ``limit`` bytes, read ``chunk`` bytes at a time."""
    kept, length = b"", 0  # the current line: what is kept of it, and its length so far
    while block := f.read(chunk):
        *ends, rest = block.split(b"\n")
        for part in ends:
            yield _line(kept + part[: limit - len(kept)], length + len(part))
            kept, length = b"", 0
        kept += rest[: limit - len(kept)]
        length += len(rest)
    if length:
        yield _line(kept, length)


def _line(data: bytes, length: int) -> Line:
    if length > len(data):
        return Line(data, length)
    data = data.rstrip(b"\r")
    return Line(data, len(data))
