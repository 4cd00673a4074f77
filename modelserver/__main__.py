"""``python -m modelserver``: the TF Serving-protocol model server (``tensorflow_model_server`` flags)."""

from modelserver.server.main import main

raise SystemExit(main())
