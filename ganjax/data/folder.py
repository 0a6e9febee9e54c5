"""A folder of images as a dataset: ``config.data.folder=DIR``, decoded into memory.

Which files: every PNG, JPEG and WebP file under DIR, at any depth, recognised by
its suffix in any case (.png .jpg .jpeg .webp), in sorted order of its path
relative to DIR (compared folder by folder, by code point: the same order on
every machine). Other files are passed over:

* silently when they are clearly not images: hidden files and folders (names
  starting with "."), ``__MACOSX`` folders, and text, metadata, code and archive
  files (:data:`NON_IMAGE_SUFFIXES`, e.g. .txt .json .csv, and Thumbs.db);
* with a mention in the one warning of :func:`load_image_folder` otherwise (other
  image formats such as .gif, .bmp, .tif, and unknown suffixes), so a folder of
  the wrong kind of file does not go unnoticed.

Labels: when no image lies directly in DIR and DIR has subfolders holding images,
each such subfolder is a class (images at any depth below it), label i being the
i-th subfolder name in sorted order; subfolders without images are not classes.
Otherwise (images directly in DIR, alone or beside subfolders) the data is
unlabelled and every image below DIR is used.

Decoding (:func:`decode_image`, also used to write prepared shards): EXIF
orientation applied; the first frame of an animation; transparency composited on
white (how such images are usually shown); 16-bit grayscale scaled to 8 bits
(value / 257); then grayscale (ITU-R 601-2 luma) or RGB; the centred square of
side min(width, height) resized to ``image_size`` with Lanczos, which
antialiases when downscaling (large images are first reduced by whole factors
while staying at least three times the target, and JPEGs decoded at 1/2 to 1/8
scale while staying at least twice the target: faster, and indistinguishable).

A folder is one split, "train"; TFDS-style slices of the sorted file list work
("train[:90%]", "train[100:]").
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import tqdm
from PIL import Image, ImageOps

from ganjax.data.errors import DataError, describe_cause
from ganjax.data.sources import ImageDataset, parse_split, resolve_split

_LOG = logging.getLogger(__name__)

#: ``config.data.name`` of an experiment whose data is ``config.data.folder``.
NAME = "folder"
#: Side of the square images when ``config.data.image_size`` is not set.
DEFAULT_IMAGE_SIZE = 64
#: Suffixes (lower case) of the files read.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Suffixes (lower case) of files passed over silently: clearly not images.
NON_IMAGE_SUFFIXES = frozenset({
    ".txt", ".md", ".rst", ".json", ".jsonl", ".csv", ".tsv", ".xml", ".yaml", ".yml",
    ".toml", ".ini", ".cfg", ".log", ".html", ".htm", ".pdf", ".doc", ".docx", ".py",
    ".ipynb", ".sh", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar",
    ".npy", ".npz", ".pkl", ".pickle", ".h5", ".hdf5", ".mat", ".db", ".sqlite",
    ".pt", ".pth", ".ckpt", ".lock"})
#: File names (lower case) passed over silently whatever their suffix.
NON_IMAGE_NAMES = frozenset({"thumbs.db", "desktop.ini", "license", "readme"})
#: Folder names passed over silently with everything in them (besides hidden ones).
IGNORED_FOLDERS = frozenset({"__MACOSX"})
#: Files decoded before a progress bar is worth showing.
PROGRESS_ABOVE = 1000
#: Skipped files named in the warning (the rest are counted).
SHOWN_SKIPPED = 3
_NOT_READ = "not a PNG, JPEG or WebP file"
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class UnreadableImageError(DataError):
  """One image file could not be decoded; ``reason`` says why in a few words."""

  def __init__(self, path: Path, reason: str) -> None:
    super().__init__(f"cannot read image {path} ({reason})")
    self.path = path
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class FolderListing:
  """What :func:`scan_folder` found.

  Attributes:
    directory: the folder, absolute.
    files: the image files, absolute, in the dataset's order.
    labels: each file's class (index into ``class_names``), or None unlabelled.
    class_names: the class subfolders' names in label order, or None.
    ignored: (file, why) of the files passed over that might have been meant as
      images (other formats, unknown suffixes, unreadable folders); the clearly
      non-image files are not listed.
  """
  directory: Path
  files: tuple[Path, ...]
  labels: tuple[int, ...] | None
  class_names: tuple[str, ...] | None
  ignored: tuple[tuple[Path, str], ...] = ()

  @property
  def num_classes(self) -> int | None:
    return None if self.class_names is None else len(self.class_names)


def _skipped_folder(name: str) -> bool:
  return name.startswith(".") or name in IGNORED_FOLDERS


def _kind(name: str) -> str:
  """"image", "silent" (clearly not an image) or "other" for a file name."""
  suffix = os.path.splitext(name)[1].lower()
  if name.startswith("."):
    return "silent"
  if suffix in IMAGE_SUFFIXES:
    return "image"
  if suffix in NON_IMAGE_SUFFIXES or name.lower() in NON_IMAGE_NAMES:
    return "silent"
  return "other"


def _check_directory(directory: str | os.PathLike) -> Path:
  root = Path(directory).expanduser().absolute()
  if not root.is_dir():
    raise DataError(f"folder {root} does not exist or is not a directory")
  return root


def scan_folder(directory: str | os.PathLike) -> FolderListing:
  """Lists the images under ``directory`` and their classes (see the module docstring).

  Raises:
    DataError: the folder does not exist, is not a directory or cannot be read.
  """
  root = _check_directory(directory)
  ignored: list[tuple[Path, str]] = []
  found: list[tuple[str, ...]] = []  # Paths relative to root, as parts.
  seen = {os.path.realpath(root)}

  def unreadable(error: OSError) -> None:
    ignored.append((Path(error.filename or root), describe_cause(error)))

  try:
    top = sorted(os.scandir(root), key=lambda entry: entry.name)
  except OSError as e:
    raise DataError(f"cannot read folder {root} ({describe_cause(e)})") from e
  for entry in top:
    if entry.is_dir() and not _skipped_folder(entry.name):
      found += [(entry.name, *parts) for parts in _walk(Path(entry.path), seen, ignored,
                                                        unreadable)]
    elif not entry.is_dir():  # Files, and links to nothing (reported by suffix).
      _classify(Path(entry.path), (entry.name,), found, ignored)
  found.sort()
  files = tuple(root.joinpath(*parts) for parts in found)
  if not found or any(len(parts) == 1 for parts in found):
    return FolderListing(root, files, None, None, tuple(ignored))
  class_names = tuple(sorted({parts[0] for parts in found}))
  index = {name: label for label, name in enumerate(class_names)}
  labels = tuple(index[parts[0]] for parts in found)
  return FolderListing(root, files, labels, class_names, tuple(ignored))


def _classify(path: Path, parts: tuple[str, ...], found: list[tuple[str, ...]],
              ignored: list[tuple[Path, str]]) -> None:
  kind = _kind(parts[-1])
  if kind == "image":
    found.append(parts)
  elif kind == "other":
    ignored.append((path, _NOT_READ))


def _walk(folder: Path, seen: set[str], ignored: list[tuple[Path, str]], onerror
          ) -> list[tuple[str, ...]]:
  """Image files under ``folder`` as path parts relative to it (symbolic links to
  folders followed, each real folder visited once)."""
  found: list[tuple[str, ...]] = []
  for current, dirnames, filenames in os.walk(folder, onerror=onerror, followlinks=True):
    real = os.path.realpath(current)
    if real in seen:  # A link back to a folder already read.
      dirnames[:] = []
      continue
    seen.add(real)
    dirnames[:] = sorted(d for d in dirnames if not _skipped_folder(d))
    base = Path(current).relative_to(folder).parts
    for name in sorted(filenames):
      _classify(Path(current) / name, (*base, name), found, ignored)
  return found


def decode_image(path: str | os.PathLike, image_size: int, channels: int) -> np.ndarray:
  """One image file as uint8 (image_size, image_size, channels).

  A pure function of its arguments (see the module docstring for every step),
  so training in memory and prepared shards hold the same pixels.

  Args:
    path: a PNG, JPEG or WebP file (any format Pillow reads is decoded).
    image_size: side of the square result.
    channels: 1 (grayscale) or 3 (RGB).

  Raises:
    UnreadableImageError: the file is empty, truncated, not an image Pillow can
      read, too large (Pillow's decompression-bomb limit) or otherwise broken.
    ValueError: ``image_size`` or ``channels`` out of range.
  """
  if channels not in (1, 3):
    raise ValueError(f"channels must be 1 or 3, not {channels!r}")
  if not isinstance(image_size, int) or image_size < 1:
    raise ValueError(f"image_size must be a positive integer, not {image_size!r}")
  path = Path(path)
  try:
    if path.stat().st_size == 0:
      raise UnreadableImageError(path, "empty file")
    with Image.open(path) as picture:
      # JPEG only: decode at a reduced scale, still at least twice the target.
      picture.draft(None, (2 * image_size, 2 * image_size))
      picture = ImageOps.exif_transpose(picture)  # A decoded copy, upright.
    picture = _square(_convert(picture, channels), image_size)
    array = np.asarray(picture, np.uint8)
  except (UnreadableImageError, MemoryError):
    raise
  except Exception as e:  # Pillow's decoders raise many types on broken files.
    # The path is said once, before the reason ("cannot identify image file '...'").
    reason = describe_cause(e).replace(f" {str(path)!r}", "")
    raise UnreadableImageError(path, reason) from e
  return array[..., np.newaxis] if channels == 1 else array


def _convert(picture: Image.Image, channels: int) -> Image.Image:
  """Any mode -> "L" or "RGB": 16 bits scaled to 8, transparency over white."""
  if picture.mode in _SIXTEEN_BIT_MODES:
    values = np.asarray(picture).astype(np.float64) / 257.0
    picture = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")
  elif picture.mode == "F":
    picture = Image.fromarray(np.clip(np.round(np.asarray(picture)), 0, 255)
                              .astype(np.uint8), "L")
  if picture.mode in _ALPHA_MODES or "transparency" in picture.info:
    rgba = picture.convert("RGBA")
    picture = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)),
                                    rgba)
  return picture.convert("L" if channels == 1 else "RGB")


def _square(picture: Image.Image, image_size: int) -> Image.Image:
  """The centred square of side min(width, height), resized to ``image_size``."""
  width, height = picture.size
  side = min(width, height)
  left, top = (width - side) / 2, (height - side) / 2
  return picture.resize((image_size, image_size), Image.LANCZOS,
                        box=(left, top, left + side, top + side), reducing_gap=3.0)


def load_image_folder(directory: str | os.PathLike, split: str = "train",
                      image_size: int = DEFAULT_IMAGE_SIZE,
                      channels: int | None = None) -> ImageDataset:
  """Decodes the images of a folder (see the module docstring) into memory.

  Files that cannot be decoded are skipped and reported once, at the end, in one
  warning line with their number and the first few (with the files of other
  types that were passed over); decoding never stops on them.

  Args:
    directory: the folder.
    split: "train" or a slice of it ("train[:90%]", "train[100:]").
    image_size: side of the square images.
    channels: 1 (grayscale), 3 (RGB), or None: 1 when every image decodes to
      gray pixels (grayscale files, or colour files holding only gray), else 3.

  Raises:
    DataError: a missing folder, a split other than (a slice of) "train", no
      image files, or none that decodes; a bad ``image_size`` or ``channels``.
  """
  if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
    raise DataError(f"config.data.image_size must be a positive integer, not "
                    f"{image_size!r}")
  if channels not in (None, 1, 3):
    raise DataError(f"config.data.channels must be 1 (grayscale), 3 (RGB) or unset (as "
                    f"the images are), not {channels!r}")
  root = _check_directory(directory)
  spec = parse_split(split)
  if spec.name != "train":
    raise DataError(f"folder {root} is one split, 'train' (slices of it work, e.g. "
                    f"'train[:90%]' or 'train[100:]'), not {spec.name!r}")
  listing = scan_folder(root)
  if not listing.files:
    others = (f"; it holds {len(listing.ignored)} file(s) of other types, e.g. "
              f"{_relative(listing.ignored[0][0], root)}" if listing.ignored else "")
    raise DataError(f"folder {root} holds no PNG, JPEG or WebP images (looked in every "
                    f"subfolder){others}")
  window = resolve_split(spec, len(listing.files), f"folder {root}")
  files = listing.files[window]
  if not files:
    raise DataError(f"split {split!r} of folder {root} selects no images")
  images, kept, failures = _decode_all(files, image_size, channels)
  if not kept.any():
    raise DataError(f"folder {root} holds no usable image: none of its {len(files)} "
                    f"image files could be decoded ({describe_skipped(failures, root)})")
  skipped = list(listing.ignored) + failures
  if skipped:
    _LOG.warning("skipped %d file(s) in folder %s: %s", len(skipped), root,
                 describe_skipped(skipped, root))
  if not kept.all():
    images = images[kept]
  labels = None
  if listing.labels is not None:
    labels = np.asarray(listing.labels[window], np.int32)[kept]
  return ImageDataset(images=images, labels=labels, num_classes=listing.num_classes,
                      name=f"folder:{root}", split=split,
                      class_names=listing.class_names)


def _decode_all(files: tuple[Path, ...], image_size: int, channels: int | None
                ) -> tuple[np.ndarray, np.ndarray, list[tuple[Path, str]]]:
  """Every file decoded (rows of failures left black), which were, and (path, why)
  of the others.

  Threads decode in parallel (Pillow releases the GIL while decoding and
  resizing); each writes its own row, so the result does not depend on timing.
  """
  decoded_channels = channels or 3
  images = np.zeros((len(files), image_size, image_size, decoded_channels), np.uint8)
  gray = np.ones(len(files), bool)
  reasons: list[str | None] = [None] * len(files)

  def decode(index: int) -> None:
    try:
      image = decode_image(files[index], image_size, decoded_channels)
    except UnreadableImageError as e:
      reasons[index] = e.reason
      return
    images[index] = image
    if channels is None:
      gray[index] = bool((image[..., 0] == image[..., 1]).all()
                         and (image[..., 1] == image[..., 2]).all())

  workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
  with warnings.catch_warnings():
    # Pillow warns about odd EXIF blocks and large images: noise per file here.
    warnings.simplefilter("ignore")
    with tqdm.tqdm(total=len(files), unit="img", desc="decoding images", file=sys.stderr,
                   disable=len(files) <= PROGRESS_ABOVE, leave=False) as bar, \
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
      for _ in pool.map(decode, range(len(files))):
        bar.update(1)
  failures = [(files[i], reason) for i, reason in enumerate(reasons) if reason is not None]
  ok = np.array([reason is None for reason in reasons])
  if channels is None and gray[ok].all():
    images = np.ascontiguousarray(images[..., :1])
  return images, ok, failures


def _relative(path: Path, root: Path) -> str:
  try:
    return str(path.relative_to(root))
  except ValueError:
    return str(path)


def describe_skipped(skipped: list[tuple[Path, str]], root: Path) -> str:
  """The first few (file, why) of ``skipped``, relative to ``root``, and how many
  more: the body of the one warning line that reports them."""
  shown = "; ".join(f"{_relative(path, root)}: {reason}"
                    for path, reason in skipped[:SHOWN_SKIPPED])
  more = len(skipped) - SHOWN_SKIPPED
  return shown + (f"; and {more} more" if more > 0 else "")
