"""msrec's export and the TF Serving stand-in spell TF Serving's names each on its own: they must agree.

``msrec/signatures.py`` names what ``trainer/export.py`` writes; ``modelserver/saved_model.py`` names
what the stand-in (and stock TF Serving) reads. A warm-up file written under another name would simply
not be replayed, so the agreement is checked here rather than left to chance.
"""

from __future__ import annotations

from modelserver import saved_model
from msrec import signatures


def test_msrec_exports_under_the_names_the_stand_in_reads():
    assert signatures.DEFAULT == saved_model.DEFAULT_SIGNATURE == "serving_default"
    assert signatures.SERVE_TAG == saved_model.SERVE_TAG == "serve"
    assert signatures.WARMUP_FILE == saved_model.WARMUP_FILE == "assets.extra/tf_serving_warmup_requests"
    assert signatures.warmup_file("models/m/7") == saved_model.warmup_file("models/m/7")
