"""Real colour photographs shipped with scikit-image, cut into patches.

``config.data.name = "skimage_photos"`` (no download: the files are inside the
scikit-image wheel). The photographs are ``skimage.data``'s astronaut (Eileen
Collins), chelsea (a cat), coffee (a cup on a saucer) and rocket (a launch pad
at dusk). Each is scaled by ``scale`` (area-averaged), then square patches of
``patch_size`` pixels are taken every ``stride`` pixels, row by row.

Held-out split by patch position: split "train" takes the patches that lie in
the left 80% of every photo, "test" those in the right 20%, so no test pixel is
ever seen in training while every photo is represented in both. TFDS-style
slices work ("train[:500]"). Labels are the photo's index (4 classes).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganjax.data.errors import DataError, describe_cause
from ganjax.data.sources import ImageDataset, parse_split, resolve_split

NAME = "skimage_photos"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
#: Fraction of every photo's width (on the right) that forms the "test" split.
TEST_FRACTION = 0.2
SPLITS = ("train", "test")


def photo(name: str, scale: float = 1.0) -> np.ndarray:
  """One photograph as uint8 (H, W, 3), scaled by ``scale``."""
  try:
    from skimage import data  # pylint: disable=g-import-not-at-top
    image = getattr(data, name)()
  except Exception as e:  # ImportError, or a data file missing from the install.
    raise DataError(f"cannot load skimage.data.{name}() ({describe_cause(e)}); "
                    "install scikit-image") from e
  if scale != 1.0:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = np.asarray(Image.fromarray(image).resize(size, Image.BOX))
  return image


def _starts(begin: int, end: int, patch: int, stride: int) -> range:
  """Patch origins whose patch lies within [begin, end)."""
  return range(begin, end - patch + 1, stride)


def patches(image: np.ndarray, split: str, patch_size: int, stride: int) -> np.ndarray:
  """The patches of one photo that belong to ``split`` (uint8 (N, p, p, 3))."""
  height, width = image.shape[:2]
  boundary = int(round(width * (1 - TEST_FRACTION)))
  columns = (0, boundary) if split == "train" else (boundary, width)
  out = [image[top:top + patch_size, left:left + patch_size]
         for top in _starts(0, height, patch_size, stride)
         for left in _starts(*columns, patch_size, stride)]
  return np.stack(out) if out else np.zeros((0, patch_size, patch_size, 3), np.uint8)


def load_photo_patches(split: str = "train", *, patch_size: int = 32,
                       stride: int | None = None, scale: float = 0.5) -> ImageDataset:
  """Patches of the photographs for ``split`` ("train" or "test", with slices).

  Args:
    split: "train" (left 80% of each photo) or "test" (right 20%).
    patch_size: side of the square patches.
    stride: distance between patch origins; default ``patch_size // 4``.
    scale: factor applied to the photos first (0.5 halves them).

  Raises:
    DataError: a bad split, size or scale, or patches too big for the photos.
  """
  spec = parse_split(split)
  if spec.name not in SPLITS:
    raise DataError(f"data.name={NAME!r} has the splits 'train' and 'test' (held-out "
                    f"right {TEST_FRACTION:.0%} of each photo), not {spec.name!r}")
  if not isinstance(patch_size, int) or patch_size < 2:
    raise DataError(f"config.data.patch_size must be an integer >= 2, not {patch_size!r}")
  stride = patch_size // 4 if stride is None else stride
  if not isinstance(stride, int) or stride < 1:
    raise DataError(f"config.data.patch_stride must be a positive integer, not {stride!r}")
  if not 0 < scale <= 1:
    raise DataError(f"config.data.photo_scale must be in (0, 1], not {scale!r}")
  parts, labels = [], []
  for index, name in enumerate(PHOTOS):
    cut = patches(photo(name, scale), spec.name, patch_size, stride)
    parts.append(cut)
    labels.append(np.full(len(cut), index, np.int32))
  images, labels = np.concatenate(parts), np.concatenate(labels)
  if not len(images):
    raise DataError(f"no {patch_size}x{patch_size} patch fits in the {spec.name!r} part "
                    f"of the photos at photo_scale={scale}; use smaller patches or a "
                    "larger scale")
  window = resolve_split(spec, len(images), NAME)
  return ImageDataset(images=images[window], labels=labels[window],
                      num_classes=len(PHOTOS), name=NAME, split=split)
