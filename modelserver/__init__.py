"""modelserver: a local stand-in for TensorFlow Serving, speaking its gRPC and REST protocol.

A package of its own beside msrec's stages: it serves any SavedModel that ``tensorflow_model_server``
loads and imports nothing of msrec (an import-linter contract in ``pyproject.toml`` says so). Its
parts, leaves first: ``status`` (gRPC codes and messages), ``saved_model`` (TF Serving's names),
``tensors`` and ``json_tensor`` (the two wire encodings), ``gate`` (would stock TF Serving load this
version?), ``client`` (gRPC and REST clients) and ``server/`` (the server; ``python -m modelserver``).

It sets no Keras switch: the server and the gate load SavedModels, which need no Keras, so unlike
msrec's stages it does not select Keras 2 before TensorFlow loads.
"""
