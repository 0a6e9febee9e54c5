"""Reading IDX files, the format MNIST and Fashion-MNIST are distributed in.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 dimension sizes, then the data in C order, big
endian. This module reads single files (:func:`read_idx`) and finds the
standard MNIST file names in a directory (:func:`find_split_files`).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ganjax.data.errors import DataError

# dtype code -> big-endian numpy dtype, per the IDX specification.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Split name -> file-name prefix used by the MNIST distribution.
SPLIT_PREFIXES: dict[str, str] = {"train": "train", "test": "t10k"}


def read_idx(path: str | Path) -> np.ndarray:
  """Reads one IDX file, gzip-compressed when its name ends in ``.gz``.

  Args:
    path: The file to read.

  Returns:
    The array the header describes, in native byte order.

  Raises:
    DataError: If the file is missing or unreadable, is not valid gzip, is
      not an IDX file, uses an unsupported dtype code, or holds a different
      number of data bytes than its header declares.
  """
  path = Path(path)
  data = _read_bytes(path)
  dtype, dims, offset = _parse_header(path, data)
  count = math.prod(dims)
  _check_payload_size(path, len(data) - offset, count * dtype.itemsize, dims, dtype)
  array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
  # astype copies into native byte order, so the result is also writable
  # (np.frombuffer over immutable bytes is read-only).
  return array.reshape(dims).astype(dtype.newbyteorder("="))


def _read_bytes(path: Path) -> bytes:
  """Returns the file's (decompressed) contents."""
  try:
    raw = path.read_bytes()
  except FileNotFoundError:
    raise DataError(f"IDX file {path} does not exist.") from None
  except OSError as e:
    raise DataError(f"Cannot read IDX file {path}: {e.strerror or e}.") from e
  if path.suffix != ".gz":
    return raw
  try:
    return gzip.decompress(raw)
  # BadGzipFile (an OSError) for a bad header or CRC, EOFError for a cut-off
  # stream, zlib.error for damaged deflate data.
  except (OSError, EOFError, zlib.error) as e:
    raise DataError(f"{path} is not a valid gzip file ({e}).") from e


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
  """Decodes the header; returns (dtype, dims, offset of the first data byte)."""
  if len(data) < 4 or data[:2] != b"\x00\x00" or data[3] == 0:
    raise DataError(
        f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})."
    )
  code, ndim = data[2], data[3]
  if code not in _IDX_DTYPES:
    raise DataError(
        f"{path} uses IDX dtype code 0x{code:02x}, which is not one of the "
        f"supported codes {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}."
    )
  offset = 4 + 4 * ndim
  if len(data) < offset:
    raise DataError(f"{path} is truncated: its IDX header for {ndim} dimensions is incomplete.")
  dims = struct.unpack(f">{ndim}I", data[4:offset])
  return _IDX_DTYPES[code], dims, offset


def _check_payload_size(
    path: Path, actual: int, expected: int, dims: tuple[int, ...], dtype: np.dtype
) -> None:
  """Raises DataError unless the payload is exactly what the header declares."""
  if actual == expected:
    return
  shape = "x".join(map(str, dims))
  problem = "is truncated" if actual < expected else "has trailing bytes"
  raise DataError(
      f"{path} {problem}: its header declares {shape} {dtype.name} values "
      f"({expected} bytes) but the file holds {actual} data bytes."
  )


@dataclasses.dataclass(frozen=True)
class SplitFiles:
  """The IDX files of one split in an MNIST-style directory."""

  images: Path
  labels: Path | None  # None when the directory ships no labels file.


def image_file_names(split: str) -> list[str]:
  """Returns the accepted image-file names for a split, most common first."""
  return _names(SPLIT_PREFIXES[split], "images", (3, 4))


def find_split_files(directory: Path, split: str) -> SplitFiles | None:
  """Finds a split's files under the standard MNIST names.

  Accepts ``<prefix>-images-idx3-ubyte`` and the ``<prefix>-images.idx3-ubyte``
  spelling some mirrors use, ``idx4`` for multi-channel images, each
  optionally gzip-compressed; likewise ``<prefix>-labels-idx1-ubyte``.

  Args:
    directory: The directory to look in.
    split: ``"train"`` or ``"test"`` (files prefixed ``train`` or ``t10k``).

  Returns:
    The files found, or None when the directory has no images for the split.
  """
  images = _first_existing(directory, image_file_names(split))
  if images is None:
    return None
  labels = _first_existing(directory, _names(SPLIT_PREFIXES[split], "labels", (1,)))
  return SplitFiles(images=images, labels=labels)


def _names(prefix: str, kind: str, ndims: tuple[int, ...]) -> list[str]:
  """Lists candidate file names; uncompressed first since it reads faster."""
  # "-idx3-ubyte" is the canonical spelling; some mirrors use ".idx3-ubyte".
  stems = [f"{prefix}-{kind}{sep}idx{n}-ubyte" for n in ndims for sep in ("-", ".")]
  return stems + [f"{stem}.gz" for stem in stems]


def _first_existing(directory: Path, names: list[str]) -> Path | None:
  """Returns the first of ``names`` that is a file in ``directory``."""
  for name in names:
    candidate = directory / name
    if candidate.is_file():
      return candidate
  return None
