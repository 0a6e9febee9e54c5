"""What every reported score carries so it can be reproduced: the protocol.

FID-style numbers are only comparable when the feature extractor (and its exact
weights), the sample counts, the reference data and split, the preprocessing and
the seed agree. These helpers collect those facts for the JSON files that
``ganjax.eval`` writes.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

#: How many stored features KID and the k-NN metrics use by default.
KID_NUM_SUBSETS = 100
KID_SUBSET_SIZE = 1000
PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5


def ganjax_version() -> str:
  """The installed ganjax version, or "unknown" when running from a bare checkout."""
  try:
    return importlib.metadata.version("ganjax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def library_versions() -> dict[str, str]:
  """Versions of the libraries whose numerics enter the scores."""
  import flax
  import jax
  return {"ganjax": ganjax_version(), "jax": jax.__version__, "flax": flax.__version__}


def metric_settings(num_stored: int) -> dict[str, Any]:
  """The fixed hyperparameters of the feature statistics, as recorded."""
  return {"kid_num_subsets": KID_NUM_SUBSETS,
          "kid_subset_size": min(KID_SUBSET_SIZE, num_stored),
          "precision_recall_k": PRECISION_RECALL_K,
          "density_coverage_k": DENSITY_COVERAGE_K,
          "knn_num_stored": num_stored,
          "generated_pixels": "quantised to 8 bits like real images"}
