"""Shared fixtures: the tiny hand-readable corpus and its preprocessed output."""

import os
import pathlib

import pytest

import msrec  # noqa: F401  (selects Keras 2 before any test imports TensorFlow)

TESTDATA = pathlib.Path(__file__).parent / "testdata"
DATA_ENV = "MSREC_DATA_DIR"


def real_dataset(name: str) -> pathlib.Path | None:
    root = os.environ.get(DATA_ENV)
    path = pathlib.Path(root) / name if root else None
    return path if path and path.is_dir() else None


@pytest.fixture(scope="session")
def tiny_raw() -> str:
    return str(TESTDATA / "tiny")


@pytest.fixture(scope="session")
def tiny_data(tiny_raw, tmp_path_factory) -> str:
    """The tiny corpus run through the real Beam pipeline once per session."""
    from msrec import config
    from msrec import source_config as sources
    from preprocessing import pipeline

    out = str(tmp_path_factory.mktemp("tiny_data"))
    pipeline.run(sources.preset("synthetic"), tiny_raw, out, config.DataConfig(), shards=1)
    return out


@pytest.fixture(scope="session")
def tiny_source(tiny_data):
    """The handle of the preprocessed tiny corpus (``msrec.datadir.DataDir``), opened once."""
    from msrec.datadir import DataDir

    return DataDir.open(tiny_data)


@pytest.fixture(scope="session")
def prism_flags() -> list[str]:
    """Beam flags for Prism, built once into ``$MSREC_ENGINES_CACHE`` by ``bench/engines.py`` (``go
    install`` from the Go module proxy on a cold cache; a lock keeps pytest-xdist workers to one build)."""
    from bench import engines

    return engines.flags("prism")
