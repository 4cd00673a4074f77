"""msrec.text: a pretrained BERT sentence encoder (all-MiniLM-L6-v2) in core TensorFlow ops.

Sits beside the other msrec core modules; trainer/, preprocessing/ and serving/ may use it, it uses none
of them. ``checkpoint`` finds and reads the weights, ``tokenizer`` is BERT's tokenizer as graph ops and
``encoder`` the model, whose :func:`~msrec.text.encoder.export` writes a SavedModel that stock TF Serving
loads. Names are imported lazily so that ``msrec.text.checkpoint`` alone does not import TensorFlow.
"""

import importlib

_EXPORTS = {
    "BertConfig": "checkpoint",
    "Checkpoint": "checkpoint",
    "CheckpointNotFoundError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "BertTokenizer": "tokenizer",
    "SentenceEncoder": "encoder",
    "SIGNATURE": "encoder",
    "export": "encoder",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'msrec.text' has no attribute {name!r}")
    module = importlib.import_module(f"msrec.text.{_EXPORTS[name]}")
    return getattr(module, "load" if name == "load_checkpoint" else name)
