"""The one image-grid writer: arrays of images -> a PNG grid, or an animated GIF of grids."""

import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from ganjax.utils import paths
from ganjax.utils.errors import UserError

#: Largest image a command writes (a mistaken --num or --scale must fail in one
#: line before generating, not exhaust the memory while enlarging).
MAX_PIXELS = 1 << 28


class ImageWriteError(UserError):
  """An image file could not be written (disk full, permissions...); no file was left."""


def grid_shape(num: int, image_shape: tuple[int, ...], columns: Optional[int] = None,
               padding: int = 2, scale: int = 1) -> tuple[int, int]:
  """(height, width) in pixels of the PNG that :func:`save_grid` would write."""
  height, width = image_shape[:2]
  columns = columns or math.ceil(math.sqrt(num))
  rows = math.ceil(num / columns)
  return ((rows * (height + padding) + padding) * scale,
          (columns * (width + padding) + padding) * scale)


def check_size(shape: tuple[int, int], what: str, frames: int = 1) -> None:
  """Raises UserError for an image (all ``frames`` of an animation together)
  larger than :data:`MAX_PIXELS`."""
  height, width = shape
  pixels = frames * height * width
  if pixels > MAX_PIXELS:
    image = (f"a {width}x{height} image" if frames == 1
             else f"an animation of {frames} frames of {width}x{height}")
    raise UserError(f"{what} would make {image} ({pixels / 1e6:.0f} megapixels, at "
                    f"most {MAX_PIXELS / 1e6:.0f}); ask for fewer or smaller images")


def to_uint8(images: np.ndarray, pixel_range: tuple[float, float]) -> np.ndarray:
  """Maps images from ``pixel_range`` to uint8 [0, 255] (clipping outliers)."""
  low, high = pixel_range
  scaled = (np.asarray(images, np.float32) - low) / (high - low)
  return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, columns: Optional[int] = None,
              padding: int = 2) -> np.ndarray:
  """Tiles uint8 images (N, H, W, C) into one (rows*H', columns*W', C) image.

  Args:
    images: uint8 images.
    columns: images per row; default makes the grid as square as possible.
    padding: black pixels between images.
  """
  num, height, width, channels = images.shape
  columns = columns or math.ceil(math.sqrt(num))
  rows = math.ceil(num / columns)
  cell_h, cell_w = height + padding, width + padding
  grid = np.zeros((rows * cell_h + padding, columns * cell_w + padding, channels),
                  np.uint8)
  for i, image in enumerate(images):
    top = padding + (i // columns) * cell_h
    left = padding + (i % columns) * cell_w
    grid[top:top + height, left:left + width] = image
  return grid


def save_png(path: os.PathLike, image: np.ndarray, scale: int = 1) -> None:
  """Writes a uint8 (H, W, C) image as PNG atomically (temp file, then rename).

  Args:
    path: destination file; its directory is created.
    image: uint8 image with 1 or 3 channels.
    scale: integer nearest-neighbour enlargement (small digits are hard to see).

  Raises:
    ImageWriteError: the file could not be written (disk full, permissions, a
      directory in the way...); the temporary file (and any directory made for
      it) is removed, an existing file at ``path`` is left as it was.
  """
  _write_image(path, [_to_pil(image, scale)], format="PNG")


def save_gif(path: os.PathLike, frames: Sequence[np.ndarray], duration_ms: int,
             scale: int = 1) -> None:
  """Writes uint8 (H, W, C) frames as an animated GIF that loops, atomically.

  Gray frames keep all 256 levels; colour frames are reduced to a 256-colour
  palette each (GIF's limit). Identical consecutive frames are stored once, with
  their durations added (Pillow's encoder merges them), so the animation plays
  as written.

  Args:
    path: destination file; its directory is created.
    frames: at least one uint8 image, all of the same shape.
    duration_ms: display time of each frame.
    scale: integer nearest-neighbour enlargement.

  Raises:
    ImageWriteError: as :func:`save_png`; no file is left.
  """
  _write_image(path, [_to_pil(frame, scale) for frame in frames], format="GIF",
               duration=duration_ms, loop=0)


def _to_pil(image: np.ndarray, scale: int) -> Image.Image:
  if scale > 1:
    image = image.repeat(scale, axis=0).repeat(scale, axis=1)
  return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def _write_image(path: os.PathLike, pils: list[Image.Image], **options) -> None:
  """Saves one image, or several as the frames of an animation, through the
  atomic write path."""
  extra = {"save_all": True, "append_images": pils[1:]} if len(pils) > 1 else {}

  def write(tmp: Path) -> None:
    with open(tmp, "wb") as file:  # Our handle: a failing flush on close is caught too.
      pils[0].save(file, **options, **extra)

  paths.write_atomically(Path(path), write, ImageWriteError)


def save_grid(path: os.PathLike, images: np.ndarray, pixel_range: tuple[float, float],
              columns: Optional[int] = None, scale: int = 2) -> np.ndarray:
  """Writes ``images`` (floats in ``pixel_range``) as a PNG grid; returns the grid."""
  grid = make_grid(to_uint8(images, pixel_range), columns)
  save_png(path, grid, scale)
  return grid


def save_grid_animation(path: os.PathLike, frames: np.ndarray,
                        pixel_range: tuple[float, float], columns: Optional[int] = None,
                        scale: int = 2, duration_ms: int = 100) -> None:
  """Writes ``frames`` (F, N, H, W, C) floats in ``pixel_range`` as an animated
  GIF whose frame ``f`` is the grid of ``frames[f]`` (as :func:`save_grid` lays it)."""
  save_gif(path, [make_grid(to_uint8(images, pixel_range), columns) for images in frames],
           duration_ms, scale)
