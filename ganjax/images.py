"""The one image-grid writer: arrays of images -> a PNG grid."""

import math
import os
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image


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
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if scale > 1:
    image = image.repeat(scale, axis=0).repeat(scale, axis=1)
  pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  tmp = path.with_name(f".{path.name}.tmp")
  pil.save(tmp, format="PNG")
  os.replace(tmp, path)


def save_grid(path: os.PathLike, images: np.ndarray, pixel_range: tuple[float, float],
              columns: Optional[int] = None, scale: int = 2) -> np.ndarray:
  """Writes ``images`` (floats in ``pixel_range``) as a PNG grid; returns the grid."""
  grid = make_grid(to_uint8(images, pixel_range), columns)
  save_png(path, grid, scale)
  return grid
