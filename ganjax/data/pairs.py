"""Pair transforms: (input, target) image pairs built from any image dataset.

Image-to-image models (pix2pix) train on pairs: the target is the dataset's image,
the input is made from it by a deterministic transform chosen by
``config.data.pairs``:

* ``"edges"``: Canny edge map (sigma 1, of the luma for colour images): white
  one-pixel lines on black, one channel. Learns drawing -> image.
* ``"inpaint"``: the image with a square hole (side ``mask_fraction`` of the
  shorter side) filled with mid-grey. The hole of example ``i`` is the ``i``-th
  draw of a random stream seeded by ``seed``: the same for every load, so a
  resumed run trains on exactly the same pairs.
* ``"lowres"``: box-downsampled by 4, then bilinearly upsampled back (the
  super-resolution task).
* ``"grayscale"``: the luma (ITU-R 601, as PIL's "L") of a colour image, one
  channel. Learns colourisation.

Everything is uint8 (N, H, W, C) in and out; all transforms are pure functions of
(images, seed), computed once when the data is loaded.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganjax.data.errors import DataError

PAIRS = ("none", "edges", "inpaint", "lowres", "grayscale")

#: Pixel value of the inpainting hole (mid-grey: 0 in a [-1, 1] model range).
HOLE_VALUE = 128
#: Downsampling factor of "lowres".
LOWRES_FACTOR = 4
# Separates the mask stream from other uses of the seed.
_MASK_STREAM = 0x3A5C


def make_inputs(kind: str, images: np.ndarray, *, seed: int = 0,
                mask_fraction: float = 0.5) -> np.ndarray | None:
  """The inputs paired with ``images`` (the targets); None for ``"none"``.

  Args:
    kind: one of :data:`PAIRS`.
    images: uint8 targets (N, H, W, C).
    seed: seeds the inpainting holes.
    mask_fraction: side of the inpainting hole over the image's shorter side.

  Raises:
    DataError: unknown kind, or images the transform cannot use (grayscale
      images for "grayscale", images smaller than 4 pixels for "lowres").
  """
  if kind not in PAIRS:
    raise DataError(f"config.data.pairs must be one of {', '.join(PAIRS)}, not {kind!r}")
  if kind == "none":
    return None
  if images.dtype != np.uint8 or images.ndim != 4:
    raise ValueError(f"expected uint8 (N, H, W, C) images, got {images.dtype} "
                     f"{images.shape}")
  if kind == "edges":
    return edges(images)
  if kind == "inpaint":
    return inpaint(images, seed=seed, mask_fraction=mask_fraction)
  if kind == "lowres":
    return lowres(images)
  return grayscale(images)


def luma(images: np.ndarray) -> np.ndarray:
  """uint8 (N, H, W, 3 or 1) -> uint8 (N, H, W, 1), ITU-R 601 weights like PIL."""
  if images.shape[-1] == 1:
    return images
  # PIL's fixed-point formula (16-bit weights, rounded): identical to convert("L").
  weights = np.array([19595, 38470, 7471], np.uint32)
  y = (images[..., :3].astype(np.uint32) @ weights + 0x8000) >> 16
  return y.astype(np.uint8)[..., None]


def grayscale(images: np.ndarray) -> np.ndarray:
  if images.shape[-1] != 3:
    raise DataError(f"config.data.pairs='grayscale' needs colour (3-channel) images; "
                    f"these have {images.shape[-1]} channel(s)")
  return luma(images)


def edges(images: np.ndarray, sigma: float = 1.0) -> np.ndarray:
  """Canny edges of each image's luma: uint8 (N, H, W, 1), 255 on edges."""
  from skimage import feature  # Imported here: scikit-image takes a while.
  gray = luma(images)[..., 0]
  out = np.zeros(gray.shape, np.uint8)
  for i, image in enumerate(gray):
    out[i] = feature.canny(image, sigma=sigma)
  return out[..., None] * np.uint8(255)


def hole_boxes(num: int, height: int, width: int, *, seed: int,
               mask_fraction: float) -> np.ndarray:
  """(num, 4) int (top, left, bottom, right) of each example's square hole."""
  if not 0 < mask_fraction < 1:
    raise DataError(f"config.data.mask_fraction must be in (0, 1), not {mask_fraction}")
  side = max(1, int(round(mask_fraction * min(height, width))))
  rng = np.random.default_rng((seed, _MASK_STREAM))
  # Drawn example by example (top, left, top, left, ...), so example i's hole
  # depends only on (seed, i), not on how many examples there are.
  corners = rng.integers(0, [height - side + 1, width - side + 1], size=(num, 2))
  return np.concatenate([corners, corners + side], axis=1)


def inpaint(images: np.ndarray, *, seed: int, mask_fraction: float = 0.5) -> np.ndarray:
  num, height, width, _ = images.shape
  boxes = hole_boxes(num, height, width, seed=seed, mask_fraction=mask_fraction)
  rows, cols = np.arange(height), np.arange(width)
  inside = ((rows[None, :, None] >= boxes[:, 0, None, None])
            & (rows[None, :, None] < boxes[:, 2, None, None])
            & (cols[None, None, :] >= boxes[:, 1, None, None])
            & (cols[None, None, :] < boxes[:, 3, None, None]))
  return np.where(inside[..., None], np.uint8(HOLE_VALUE), images)


def lowres(images: np.ndarray, factor: int = LOWRES_FACTOR) -> np.ndarray:
  """Box-downsample by ``factor``, bilinear upsample back: uint8, same shape."""
  num, height, width, channels = images.shape
  if height < factor or width < factor:
    raise DataError(f"config.data.pairs='lowres' needs images of at least {factor}x"
                    f"{factor} pixels; these are {height}x{width}")
  small = (max(1, width // factor), max(1, height // factor))
  out = np.empty_like(images)
  for i, image in enumerate(images):
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    pil = pil.resize(small, Image.BOX).resize((width, height), Image.BILINEAR)
    out[i] = np.asarray(pil).reshape(height, width, channels)
  return out
