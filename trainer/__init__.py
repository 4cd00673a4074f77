"""trainer stage of msrec."""

import msrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)
