"""``python -m serving.server``: the TF Serving-protocol model server (``tensorflow_model_server`` flags)."""

from serving.server.main import main

raise SystemExit(main())
