"""What a run records about its data (ganjax.data.examples): a resume must see the
same examples in the same order, wherever the files now live."""

import numpy as np

from ganjax.data.examples import data_identity, identity_differences
from ganjax.data.sources import ImageDataset


def _identity(images, labels, name="idx:/data/a"):
  dataset = ImageDataset(images, labels, 10, name, "train")
  return data_identity(dataset, {"image": images, "label": labels})


def test_the_fingerprint_follows_the_contents_not_the_location():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (6, 4, 4, 1), dtype=np.uint8)
  labels = np.arange(6, dtype=np.int32)
  here = _identity(images, labels)
  assert here["num_examples"] == 6 and here["image_shape"] == [4, 4, 1]
  moved = _identity(images.copy(), labels.copy(), name="idx:/elsewhere")
  assert identity_differences(here, moved) == []
  relabelled = labels.copy()
  relabelled[0] = 9
  reordered = images[::-1], labels[::-1]
  for other in (_identity(images, relabelled), _identity(*reordered)):
    assert identity_differences(here, other) == [
        f"content fingerprint {here['fingerprint'][:12]} -> {other['fingerprint'][:12]}"]


def test_identity_differences_name_what_changed():
  saved = {"num_examples": 10_000, "image_shape": [28, 28, 1], "fingerprint": "a" * 64}
  current = {"num_examples": 60_000, "image_shape": [64, 64, 1], "fingerprint": "b" * 64}
  assert identity_differences(saved, current) == [
      "image shape 28x28x1 -> 64x64x1", "10,000 -> 60,000 examples",
      f"content fingerprint {'a' * 12} -> {'b' * 12}"]
  assert identity_differences({"num_examples": 60_000}, current) == []  # older meta
