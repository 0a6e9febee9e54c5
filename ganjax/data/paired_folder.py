"""Paired-image folders in the pix2pix convention (facades, maps, edges2shoes...).

Every image file holds the two images of a pair side by side: A on the left half,
B on the right. ``direction`` "AtoB" translates A -> B (input A, target B),
"BtoA" the reverse. Files are read in name order. The pix2pix datasets ship
``train/``, ``val/`` and ``test/`` subfolders: split "train" reads
``paired_dir/train`` when it exists and otherwise the folder itself; other splits
need their subfolder. TFDS-style slices work: "train[:100]", "val[50%:]".

Both halves are resized to ``image_size`` x ``image_size`` (bicubic) when it is
given; otherwise every file must have the same size. Images are RGB unless every
file is grayscale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganjax.data.errors import DataError, describe_cause
from ganjax.data.sources import ImageDataset, parse_split, resolve_split

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DIRECTIONS = ("AtoB", "BtoA")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def image_files(directory: Path) -> list[Path]:
  """The image files (by suffix, any case) directly in ``directory``, by name."""
  return sorted(p for p in directory.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _split_directory(root: Path, name: str) -> Path:
  sub = root / name
  if sub.is_dir():
    return sub
  if name == "train":
    return root
  raise DataError(f"paired_dir {root} has no {name!r} subfolder; split {name!r} needs "
                  f"{sub} (split 'train' may also use the folder itself)")


def load_paired_folder(paired_dir: str, split: str = "train", *,
                       direction: str = "AtoB", image_size: int | None = None
                       ) -> tuple[ImageDataset, np.ndarray]:
  """Reads a split of a pix2pix-style paired folder.

  Returns:
    The targets as an unlabelled :class:`ImageDataset` and the inputs, uint8
    (N, H, W, C) each.

  Raises:
    DataError: missing or empty folder, an unreadable file, an odd width, sizes
      that differ without ``image_size``, a bad direction or split.
  """
  if direction not in DIRECTIONS:
    raise DataError(f"config.data.paired_direction must be 'AtoB' or 'BtoA', not "
                    f"{direction!r}")
  if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
    raise DataError(f"config.data.image_size must be a positive integer, not "
                    f"{image_size!r}")
  root = Path(paired_dir).expanduser().absolute()
  if not root.is_dir():
    raise DataError(f"paired_dir {root} does not exist or is not a directory")
  spec = parse_split(split)
  directory = _split_directory(root, spec.name)
  files = image_files(directory)
  if not files:
    raise DataError(f"paired_dir {directory} holds no image files "
                    f"({', '.join(IMAGE_SUFFIXES)})")
  files = files[resolve_split(spec, len(files), f"paired_dir {directory}")]
  if not files:
    raise DataError(f"split {split!r} of paired_dir {directory} selects no files")
  pictures = [_open(path) for path in files]
  gray = all(picture.mode in _GRAY_MODES for picture in pictures)
  left, right = [], []
  for path, picture in zip(files, pictures):
    a, b = _halves(path, picture.convert("L" if gray else "RGB"), image_size)
    left.append(a)
    right.append(b)
  _check_same_size(files, left)
  a, b = np.stack(left), np.stack(right)
  if gray:
    a, b = a[..., None], b[..., None]
  inputs, targets = (a, b) if direction == "AtoB" else (b, a)
  dataset = ImageDataset(images=targets, labels=None, num_classes=None,
                         name=f"paired:{root}", split=split)
  return dataset, inputs


def _open(path: Path) -> Image.Image:
  try:
    with Image.open(path) as picture:
      picture.load()  # Decodes now (errors surface here); the file is closed after.
      return picture
  except (OSError, UnidentifiedImageError, ValueError) as e:
    raise DataError(f"cannot read image {path} ({describe_cause(e)})") from e


def _halves(path: Path, picture: Image.Image, image_size: int | None
            ) -> tuple[np.ndarray, np.ndarray]:
  width, height = picture.size
  if width % 2:
    raise DataError(f"{path} is {width} pixels wide, an odd width: a paired image holds "
                    "two images of equal width side by side (A | B)")
  half = width // 2
  parts = [picture.crop((0, 0, half, height)), picture.crop((half, 0, width, height))]
  if image_size is not None:
    parts = [p.resize((image_size, image_size), Image.BICUBIC) for p in parts]
  return np.asarray(parts[0], np.uint8), np.asarray(parts[1], np.uint8)


def _check_same_size(files: list[Path], halves: list[np.ndarray]) -> None:
  first = halves[0].shape[:2]
  for path, half in zip(files, halves):
    if half.shape[:2] != first:
      raise DataError(
          f"{path} holds {half.shape[1]}x{half.shape[0]} halves but {files[0]} "
          f"{first[1]}x{first[0]}; set config.data.image_size to resize them all")
